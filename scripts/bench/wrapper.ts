/**
 * @module Benchmark of `mtatrack wrapper`: 2,000 newsletter messages (~60 KB, multipart/alternative, 40
 * links) over 8 connections, sent (a) straight to a fast sink — the ceiling —, (b) through a bare byte relay
 * (node:net, socket piped to socket, no SMTP parsing: the floor, the cheapest proxy this runtime can be),
 * (c) through the wrapper with tracking off, (d) through the wrapper with tracking on (clicks, open and
 * initial-open pixels). The sink, the relay and the wrappers each run as their own process; the client is
 * this process. The run is cut into slices (default 10 of 200 messages); in each slice every case runs once,
 * so each ratio is against the ceiling (and the relay) of the same slice; the figures are medians over
 * slices. CPU per message is each process's user+sys time while that case ran (the proxies and the sink
 * from /proc/<pid>/stat, the client from process.cpuUsage()), summed over the slices, over the messages.
 *
 * Usage: bun scripts/bench/wrapper.ts [--messages 2000] [--connections 8] [--rounds 10] [--processes 1]
 *          [--cases relay,off,on] [--cpu-prof-dir DIR] [--baseline-tree DIR] [--relay-impl node|bun]
 *        (--cases: which cases besides the ceiling; --cpu-prof-dir: run the wrappers under `bun --cpu-prof`;
 *        --baseline-tree: also run the wrappers of another checkout, each right before ours, for an A/B;
 *        --relay-impl bun: the floor relay on Bun.listen/Bun.connect instead of node:net)
 *        bun scripts/bench/wrapper.ts --rewriter-only [--messages 2000]   (the rewriter alone, in process)
 *        bun scripts/bench/wrapper.ts --sink          (internal: the sink process; prints its port)
 *        bun scripts/bench/wrapper.ts --relay <port>  (internal: the bare relay to that port; prints its port)
 */
import { readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { Readable } from "node:stream";
import { parseKeyRing } from "../../src/core/key-ring.ts";
import { createLinkCodec, type LinkCodec } from "../../src/core/link-codec.ts";
import { nativePrimitives } from "../../src/runtime/codec-primitives.ts";
import { createMessageRewriter } from "../../src/wrapper/message-rewriter.ts";
import { openUpstream, type UpstreamConnection } from "../../src/wrapper/smtp-upstream.ts";

const argv = process.argv.slice(2);
const str = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1]! : dflt;
};
const opt = (name: string, dflt: number) => Number(str(name, String(dflt)));

if (argv.includes("--sink")) runSink();
else if (argv.includes("--relay")) (str("relay-impl", "node") === "bun" ? runBunRelay : runRelay)(opt("relay", 0));
else if (argv.includes("--rewriter-only")) await rewriterOnly();
else await main();

/**
 * The message rewriter alone, in this process, on the same newsletters and settings as the tracking-on
 * wrapper: CPU per message with the real link codec, and with a stub codec (a constant-time token: what is
 * left when link tokens cost nothing). Three passes of `--messages` each, alternating.
 */
async function rewriterOnly(): Promise<void> {
  const n = opt("messages", 2000);
  const real = createLinkCodec({ primitives: nativePrimitives, keys: parseKeyRing(["bench:0123456789abcdef0123"]), acceptV1: true });
  const stub = { encode: (f: { action: string; targetUrl: string | null }) => `2.bench.${f.action}${f.targetUrl?.length ?? 0}.sig` } as unknown as LinkCodec;
  const messages = Array.from({ length: 200 }, (_, i) => newsletter(i));
  console.log(`message rewriter in process (bun ${Bun.version}; the wrapper bench's newsletters, clicks + both pixels, v2 links; CPU ms per message)`);
  for (let pass = 0; pass < 3; pass++) {
    for (const [name, codec] of [["real codec", real], ["stub codec", stub]] as const) {
      const rewriter = createMessageRewriter({ codec, trackingUrl: "https://track.example.com", options: { trackClick: true, trackInitialOpen: true }, settings: { linkFormat: "v2" } });
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) {
        const message = await rewriter.rewrite(Readable.from([messages[i % messages.length]!]), { rcpt: `reader${i}@example.net` });
        if (message.summary.outcome !== "rewritten") throw new Error(`Message ${i} not rewritten: ${message.summary.reason}`);
        for await (const _ of message.stream());
        await message.close();
      }
      const c = process.cpuUsage(c0);
      console.log(`pass ${pass + 1}, ${name}: ${((c.user + c.system) / n / 1000).toFixed(3)}`);
    }
  }
}

/** The floor: a bare byte relay, each client socket piped to its own sink socket and back, Nagle off. */
function runRelay(sinkPort: number): void {
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: "127.0.0.1", port: sinkPort });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    // pipe() and a hand-written data -> write() loop with backpressure measured the same (0.11 ms CPU/message).
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, "127.0.0.1", () => process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`));
}

/**
 * The same relay on Bun's own sockets (`Bun.listen`/`Bun.connect`, no node:net streams), for comparison
 * (`--relay-impl bun`): unsent bytes are queued and flushed on `drain`.
 */
function runBunRelay(sinkPort: number): void {
  type Side = { peer: import("bun").Socket<Side> | null; queue: Uint8Array[] };
  const send = (to: import("bun").Socket<Side>, data: Uint8Array) => {
    if (to.data.queue.length) return void to.data.queue.push(data);
    const n = to.write(data);
    if (n < data.length) to.data.queue.push(data.slice(n));
  };
  const flush = (s: import("bun").Socket<Side>) => {
    while (s.data.queue.length) {
      const head = s.data.queue[0]!;
      const n = s.write(head);
      if (n < head.length) return void (s.data.queue[0] = head.slice(n));
      s.data.queue.shift();
    }
  };
  const server = Bun.listen<Side>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        client.data = { peer: null, queue: [] };
        client.setNoDelay(true);
        void Bun.connect<Side>({
          hostname: "127.0.0.1",
          port: sinkPort,
          data: { peer: client, queue: [] },
          socket: {
            open(up) {
              up.setNoDelay(true);
              client.data.peer = up;
              flush(up);
            },
            data(up, chunk) {
              send(client, chunk);
            },
            drain: flush,
            close() {
              client.end();
            },
          },
        }).then((up) => {
          up.data.queue.push(...client.data.queue);
          client.data.queue = [];
          flush(up);
        });
      },
      data(client, chunk) {
        const up = client.data.peer;
        if (up) send(up, chunk);
        else client.data.queue.push(chunk.slice());
      },
      drain: flush,
      close(client) {
        client.data.peer?.end();
      },
    },
  });
  process.stdout.write(`${server.port}\n`);
}

/** A process's user+sys CPU time in ms, from /proc/<pid>/stat (Linux). */
function procCpuMs(pid: number): number {
  const { user, sys } = procCpuSplitMs(pid);
  return user + sys;
}

/** A process's user and sys CPU time in ms. */
function procCpuSplitMs(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name; clock ticks of 10 ms (CLK_TCK 100).
  return { user: Number(fields[11]) * 10, sys: Number(fields[12]) * 10 };
}

/** A fast SMTP sink: pipelining-aware, counts messages, replies 250 to each final dot. */
function runSink(): void {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on("error", () => undefined);
    socket.write("220 sink.bench ESMTP\r\n");
    let inData = false;
    let tail = "";
    let pending = "";
    socket.on("data", (chunk: Buffer) => {
      let text = chunk.toString("latin1");
      while (text.length) {
        if (inData) {
          const probe = tail + text;
          const end = probe.indexOf("\r\n.\r\n");
          if (end < 0) {
            tail = probe.slice(-4);
            return;
          }
          text = probe.slice(end + 5);
          inData = false;
          tail = "";
          socket.write("250 2.0.0 Ok: queued\r\n");
          continue;
        }
        pending += text;
        text = "";
        let nl: number;
        let out = "";
        while (!inData && (nl = pending.indexOf("\r\n")) >= 0) {
          const verb = pending.slice(0, 4).toUpperCase();
          pending = pending.slice(nl + 2);
          if (verb === "EHLO") out += "250-sink.bench\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SIZE 104857600\r\n";
          else if (verb === "DATA") {
            out += "354 go ahead\r\n";
            inData = true;
            tail = "\r\n";
            text = pending;
            pending = "";
          } else if (verb === "QUIT") out += "221 2.0.0 Bye\r\n";
          else out += "250 2.0.0 Ok\r\n";
        }
        if (out) socket.write(out);
      }
    });
  });
  server.listen(0, "127.0.0.1", () => process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`));
}

/** The cases with each "baseline tree" case and the case right after it swapped. */
function swapBaseline<T extends { name: string }>(cases: T[]): T[] {
  const out = [...cases];
  for (let i = 0; i + 1 < out.length; i++) {
    if (!out[i]!.name.startsWith("baseline")) continue;
    const base = out[i]!;
    out[i] = out[i + 1]!;
    out[i + 1] = base;
    i++;
  }
  return out;
}

/** A ~60 KB newsletter: text and HTML alternatives, 40 links, table layout. */
function newsletter(i: number): Buffer {
  const links = Array.from({ length: 40 }, (_, k) => `https://shop.example.com/products/item-${k}?utm_source=newsletter&utm_medium=email&utm_campaign=c${i % 7}`);
  let html = '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Weekly news</title><style>td{font-family:Arial,sans-serif}</style></head><body style="margin:0">\r\n';
  html += '<table width="100%" cellpadding="0" cellspacing="0" role="presentation">\r\n';
  let k = 0;
  while (html.length < 44_000) {
    const href = links[k++ % links.length]!;
    html += `<tr><td style="padding:12px 24px;font-size:15px;line-height:22px;color:#333333">Story ${k}: ${"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore. ".repeat(3)}\r\n`;
    html += `<a href="${href}" style="color:#0066cc;text-decoration:underline">Read more about item ${k}</a></td></tr>\r\n`;
  }
  html += '</table><p style="font-size:11px"><a href="https://example.com/unsubscribe?u=42">Unsubscribe</a></p></body></html>\r\n';
  let text = "";
  while (text.length < 14_000) text += `Story: ${"Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(2)}\r\n${links[text.length % 40]}\r\n\r\n`;
  const b = `b1_${i.toString(16).padStart(8, "0")}`;
  return Buffer.from(
    `From: News <news@example.com>\r\nTo: reader${i}@example.net\r\nSubject: Weekly news #${i}\r\nDate: Sun, 29 Nov 2026 08:00:00 +0000\r\n` +
      `Message-ID: <bench-${i}@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="${b}"\r\n\r\n` +
      `--${b}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${text}\r\n` +
      `--${b}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${html}\r\n--${b}--\r\n`,
  );
}

async function* once(msg: Buffer): AsyncIterable<Uint8Array> {
  yield msg;
}

/** Opens the client's connections once per case (a pool, as real submitters keep): setup is not timed. */
function openPool(port: number, connections: number): Promise<UpstreamConnection[]> {
  return Promise.all(Array.from({ length: connections }, () => openUpstream({ host: "127.0.0.1", port, ehloName: "bench.client", startTls: false })));
}

async function sendAll(conns: UpstreamConnection[], messages: Buffer[]): Promise<{ seconds: number; bytes: number; failed: number }> {
  let next = 0;
  let bytes = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    conns.map(async (c, n) => {
      while (next < messages.length) {
        const i = next++;
        const msg = messages[i]!;
        const mail = await c.command("MAIL FROM:<news@example.com>");
        const rcpt = await c.command(`RCPT TO:<reader${i}.${n}@example.net>`);
        const data = await c.command("DATA");
        if (mail.code !== 250 || rcpt.code !== 250 || data.code !== 354) throw new Error(`Unexpected reply: ${mail.code} ${rcpt.code} ${data.code}`);
        const { reply } = await c.sendMessage(once(msg));
        if (reply.code !== 250) failed++;
        bytes += msg.length;
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, bytes, failed };
}

async function spawnLine(cmd: string[], match: RegExp, cwd = join(import.meta.dir, "../..")): Promise<{ proc: ReturnType<typeof Bun.spawn>; line: string }> {
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", cwd });
  let buf = "";
  const stream = match.source.startsWith("^\\d") ? proc.stdout : proc.stderr;
  const reader = (stream as ReadableStream<Uint8Array>).getReader();
  while (!match.test(buf)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${cmd.join(" ")} exited: ${buf}`);
    buf += new TextDecoder().decode(value);
  }
  // Keep draining so the child never blocks on a full pipe (the wrapper logs one line per message).
  void (async () => {
    while (!(await reader.read()).done);
  })();
  return { proc, line: match.exec(buf)![0] };
}

async function main(): Promise<void> {
  const total = opt("messages", 2000);
  const connections = opt("connections", 8);
  const rounds = opt("rounds", 10);
  const bun = process.execPath;
  const sink = await spawnLine([bun, import.meta.path, "--sink"], /^\d+\n/);
  const sinkPort = Number(sink.line.trim());
  const processes = opt("processes", 1);
  const profDir = str("cpu-prof-dir", "");
  const prof = profDir ? ["--cpu-prof", "--cpu-prof-dir", profDir] : [];
  const wanted = new Set(str("cases", "relay,off,on").split(","));
  const wrapperPort = async (flags: string[], cwd?: string) => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    // With --processes N, N wrapper processes share the port (--reuse-port), as one per core would.
    const shared = processes > 1 ? ["--reuse-port"] : [];
    const procs = [];
    for (let i = 0; i < processes; i++) {
      const w = await spawnLine(
        [bun, ...prof, "src/main.ts", "wrapper", "-in_hostport", `127.0.0.1:${port}`, "-out_hostport", `127.0.0.1:${sinkPort}`, "--max-clients", "64", ...shared, ...flags],
        /Starting smtp proxy service/,
        cwd,
      );
      procs.push(w.proc);
    }
    return { port, procs };
  };
  const relay = await spawnLine([bun, import.meta.path, "--relay", String(sinkPort), "--relay-impl", str("relay-impl", "node")], /^\d+\n/);
  const relayPort = Number(relay.line.trim());
  const offFlags = ["-tracking_url", ""];
  const onFlags = ["-tracking_url", "https://track.example.com", "-track_click", "-track_initial_open", "--link-key", "bench:0123456789abcdef0123"];
  const off = await wrapperPort(offFlags);
  const on = await wrapperPort(onFlags);
  // --baseline-tree DIR: the same two wrappers from another checkout, interleaved in the same slices (A/B).
  const baseTree = str("baseline-tree", "");
  const baseOff = baseTree && wanted.has("off") ? await wrapperPort(offFlags, baseTree) : null;
  const baseOn = baseTree && wanted.has("on") ? await wrapperPort(onFlags, baseTree) : null;
  const messages = Array.from({ length: total }, (_, i) => newsletter(i));
  const avg = messages.reduce((n, m) => n + m.length, 0) / messages.length;
  console.log(`wrapper benchmark (bun ${Bun.version}; ${total} messages of ${(avg / 1024).toFixed(1)} KB avg per case over ${connections} connections, in ${rounds} interleaved slices; ${processes} wrapper process(es) per case)`);
  const all = [
    { name: "ceiling (client -> sink)", kind: "ceiling", port: sinkPort, procs: [] as { pid: number }[], pool: await openPool(sinkPort, connections) },
    { name: "floor: bare byte relay", kind: "relay", port: relayPort, procs: [relay.proc], pool: await openPool(relayPort, connections) },
    ...(baseOff ? [{ name: "baseline tree, tracking off", kind: "off", port: baseOff.port, procs: baseOff.procs, pool: await openPool(baseOff.port, connections) }] : []),
    { name: "wrapper, tracking off", kind: "off", port: off.port, procs: off.procs, pool: await openPool(off.port, connections) },
    ...(baseOn ? [{ name: "baseline tree, tracking on", kind: "on", port: baseOn.port, procs: baseOn.procs, pool: await openPool(baseOn.port, connections) }] : []),
    { name: "wrapper, tracking on", kind: "on", port: on.port, procs: on.procs, pool: await openPool(on.port, connections) },
  ];
  const cases = all.filter((c) => c.kind === "ceiling" || wanted.has(c.kind));
  for (const c of cases) await sendAll(c.pool, messages.slice(0, 100)); // warm-up
  // The machine is shared and noisy: interleave short slices of the run, and compare each case with the
  // ceiling and the relay measured right before it, in the same slice.
  const perRound = Math.ceil(total / rounds);
  const rates = new Map<string, number[]>();
  const ratios = new Map<string, number[]>();
  const floorRatios = new Map<string, number[]>();
  // CPU ms spent by each process while each case ran, and the messages it sent.
  const cpu = new Map<string, { proxy: number; proxySys: number; sink: number; client: number; messages: number }>();
  for (const c of cases) cpu.set(c.name, { proxy: 0, proxySys: 0, sink: 0, client: 0, messages: 0 });
  const push = (m: Map<string, number[]>, k: string, v: number) => m.set(k, [...(m.get(k) ?? []), v]);
  for (let r = 0; r < rounds; r++) {
    const slice = messages.slice(r * perRound, (r + 1) * perRound);
    let ceiling = 0;
    let floor = 0;
    // With a baseline tree, its wrapper and ours swap places every other slice (going second is cheaper).
    const order = r % 2 === 1 ? swapBaseline(cases) : cases;
    for (const c of order) {
      const proxy0 = c.procs.reduce((n, p) => n + procCpuMs(p.pid), 0);
      const proxySys0 = c.procs.reduce((n, p) => n + procCpuSplitMs(p.pid).sys, 0);
      const sink0 = procCpuMs(sink.proc.pid);
      const client0 = process.cpuUsage();
      const res = await sendAll(c.pool, slice);
      const client1 = process.cpuUsage(client0);
      const acc = cpu.get(c.name)!;
      acc.client += (client1.user + client1.system) / 1000;
      acc.sink += procCpuMs(sink.proc.pid) - sink0;
      acc.proxy += c.procs.reduce((n, p) => n + procCpuMs(p.pid), 0) - proxy0;
      acc.proxySys += c.procs.reduce((n, p) => n + procCpuSplitMs(p.pid).sys, 0) - proxySys0;
      acc.messages += slice.length;
      if (res.failed) throw new Error(`${c.name}: ${res.failed} messages not accepted`);
      const rate = slice.length / res.seconds;
      if (c.kind === "ceiling") ceiling = rate;
      else push(ratios, c.name, rate / ceiling);
      if (c.kind === "relay") floor = rate;
      else if (c.kind !== "ceiling" && floor) push(floorRatios, c.name, rate / floor);
      push(rates, c.name, rate);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const pct = (xs: number[] | undefined, dflt: string) => (xs ? `${(median(xs) * 100).toFixed(0)}%` : dflt);
  console.log(
    "\n| case | messages/s (median) | MB/s (median) | vs ceiling | vs bare relay | CPU ms/msg: proxy | of which sys | sink | client | all |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  );
  for (const c of cases) {
    const rate = median(rates.get(c.name)!);
    const u = cpu.get(c.name)!;
    const per = (ms: number) => (ms / u.messages).toFixed(3);
    console.log(
      `| ${c.name} | ${rate.toFixed(0)} | ${((rate * avg) / 2 ** 20).toFixed(1)} | ${pct(ratios.get(c.name), "100%")} | ${pct(floorRatios.get(c.name), c.kind === "relay" ? "100%" : "-")} | ` +
        `${c.procs.length ? per(u.proxy) : "-"} | ${c.procs.length ? per(u.proxySys) : "-"} | ${per(u.sink)} | ${per(u.client)} | ${per(u.proxy + u.sink + u.client)} |`,
    );
  }
  console.log(`\n(ratios: medians of per-slice ratios; CPU: user+sys over all ${rounds} slices, /proc/<pid>/stat in 10 ms ticks, client from process.cpuUsage())`);
  await Promise.all(all.flatMap((c) => c.pool.map((conn) => conn.quit())));
  const procs = [...off.procs, ...on.procs, ...(baseOff?.procs ?? []), ...(baseOn?.procs ?? []), relay.proc, sink.proc];
  for (const p of procs) p.kill("SIGTERM");
  await Promise.all(procs.map((p) => p.exited));
}
