/**
 * @module `mtatrack wrapper` as a process: the original's flags, tracking through the real rewriter,
 * SIGTERM, a relay under Deno, and memory that stays flat for a 50 MB message.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { makeCert, startTestUpstream, type TestUpstream } from "./_smtp-peers.ts";

const root = join(import.meta.dir, "../..");
const bin = join(root, "node_modules/.bin");
const hasDeno = existsSync(join(bin, "deno"));

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const started = new Set<ReturnType<typeof Bun.spawn>>();
afterAll(() => {
  // A test that failed before stop() must not leave its wrapper running.
  for (const proc of started) if (proc.exitCode === null) proc.kill("SIGKILL");
});

/** Starts the wrapper command and resolves once it logs that it listens. */
async function startWrapper(runtime: "bun" | "deno", flags: string[], runtimeFlags: string[] = []) {
  const port = await freePort();
  const cmd = runtime === "bun" ? [join(bin, "bun"), ...runtimeFlags, "src/main.ts"] : [join(bin, "deno"), "run", "-A", "src/main.ts"];
  const proc = Bun.spawn([...cmd, "wrapper", "-in_hostport", `127.0.0.1:${port}`, ...flags], { cwd: root, stdout: "pipe", stderr: "pipe" });
  started.add(proc);
  let log = "";
  const reader = (async () => {
    for await (const chunk of proc.stderr as unknown as AsyncIterable<Uint8Array>) log += new TextDecoder().decode(chunk);
  })();
  const deadline = Date.now() + 20_000;
  while (!log.includes("Starting smtp proxy service")) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`wrapper did not start: ${log}`);
    await Bun.sleep(50);
  }
  return {
    port,
    proc,
    log: () => log,
    async stop() {
      proc.kill("SIGTERM");
      const code = await proc.exited;
      await reader;
      return code;
    },
  };
}

function send(port: number, raw: string | Buffer) {
  const t = nodemailer.createTransport({ host: "127.0.0.1", port, ignoreTLS: true });
  return t.sendMail({ envelope: { from: "a@example.com", to: ["b@example.com"] }, raw }).finally(() => t.close());
}

const html = "From: a@example.com\r\nTo: b@example.com\r\nSubject: t\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<html><body><a href=\"https://example.com/x\">x</a></body></html>\r\n";

describe("mtatrack wrapper command", () => {
  let upstream: TestUpstream;
  beforeAll(async () => {
    upstream = await startTestUpstream();
  });
  afterAll(async () => {
    await upstream.close();
  });

  test("with the original's flags it tracks clicks and opens for the envelope recipient, logs one line per message, and exits 0 on SIGTERM", async () => {
    const w = await startWrapper("bun", ["-out_hostport", `127.0.0.1:${upstream.port}`, "-tracking_url", "http://t.example.com", "-track_click", "--link-key", "k1:0123456789abcdef0123"]);
    const before = upstream.received.length;
    const info = await send(w.port, html);
    expect(info.response).toMatch(/^250 /);
    const got = upstream.received[before]!.data.toString();
    expect(got).toMatch(/^X-Sp-Message-Id: [0-9a-f]{20}\r\n/);
    expect(got).toContain('<a href="http://t.example.com/');
    expect(got).toContain('<img border="0" width="1" height="1" alt="" src="http://t.example.com/');
    expect(await w.stop()).toBe(0);
    expect(w.log()).toMatch(/message [0-9a-f]{20} session=\S+ client=127\.0\.0\.1 from=<a@example.com> rcpts=1 .* result=accepted upstream="250 .*" links=1 pixels=1 rewrite=rewritten/);
  });

  test('-tracking_url "" relays byte for byte', async () => {
    const w = await startWrapper("bun", ["-out_hostport", `127.0.0.1:${upstream.port}`, "-tracking_url", ""]);
    const before = upstream.received.length;
    await send(w.port, html);
    expect(upstream.received[before]!.data.toString()).toBe(html);
    expect(await w.stop()).toBe(0);
  });

  test("refuses a certificate without a key", async () => {
    const run = Bun.spawnSync([join(bin, "bun"), "src/main.ts", "wrapper", "-certfile", "/nonexistent.pem"], { cwd: root });
    expect(run.exitCode).toBe(1);
    expect(run.stderr.toString()).toContain("Cannot use --tls-cert without --tls-key");
  });

  test.skipIf(!hasDeno)("tracks a message over STARTTLS under Deno", async () => {
    const cert = makeCert();
    const w = await startWrapper("deno", ["-out_hostport", `127.0.0.1:${upstream.port}`, "-tracking_url", "http://t.example.com", "-track_click",
      "--link-key", "k1:0123456789abcdef0123", "-certfile", `${cert.dir}/cert.pem`, "-privkeyfile", `${cert.dir}/key.pem`]);
    const before = upstream.received.length;
    const t = nodemailer.createTransport({ host: "127.0.0.1", port: w.port, requireTLS: true, tls: { ca: cert.cert, servername: "localhost" } });
    await t.sendMail({ envelope: { from: "a@example.com", to: ["b@example.com"] }, raw: html });
    t.close();
    expect(upstream.received[before]!.data.toString()).toContain('<a href="http://t.example.com/');
    expect(await w.stop()).toBe(0);
  });

  test.skipIf(!hasDeno)("relays a message under Deno", async () => {
    const w = await startWrapper("deno", ["-out_hostport", `127.0.0.1:${upstream.port}`, "-tracking_url", ""]);
    const before = upstream.received.length;
    await send(w.port, html);
    expect(upstream.received[before]!.data.toString()).toBe(html);
    expect(await w.stop()).toBe(0);
  });

  for (const tracking of [false, true]) {
    test(`a 50 MB message goes through with flat memory (tracking ${tracking ? "on" : "off"})`, async () => {
      // --smol makes Bun collect eagerly, so the figures show what the wrapper holds rather than how far the GC lags.
      const child = Bun.spawn([join(bin, "bun"), "--smol", join(import.meta.dir, "_smtp-memory-child.ts")], { env: { ...process.env, T: tracking ? "1" : "0" }, stdout: "pipe" });
      let port = 0;
      let held: number[] = [];
      let rss: number[] = [];
      const reader = (async () => {
        let buf = "";
        for await (const chunk of child.stdout as unknown as AsyncIterable<Uint8Array>) {
          buf += new TextDecoder().decode(chunk);
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const [kind, a, b] = buf.slice(0, nl).split(" ");
            buf = buf.slice(nl + 1);
            if (kind === "PORT") port = Number(a);
            else (held.push(Number(a)), rss.push(Number(b)));
          }
        }
      })();
      try {
        while (!port) await Bun.sleep(20);
        await send(port, html); // warm up: the first message loads the rewriter
        await Bun.sleep(100);
        const baseline = Math.max(...held.slice(-3));
        held = [];
        rss = [];
        const line = `${"x".repeat(76)}\r\n`;
        const body = Buffer.from(`From: a@example.com\r\nTo: b@example.com\r\nSubject: big\r\n\r\n${line.repeat(Math.ceil(50_000_000 / line.length))}`);
        const info = await send(port, body);
        expect(info.response).toMatch(/^250 /);
        await Bun.sleep(60);
        const growth = Math.max(...held) - baseline;
        console.log(`50 MB message, tracking ${tracking ? "on" : "off"}: held grew ${(growth / 2 ** 20).toFixed(1)} MB, RSS peak ${(Math.max(...rss) / 2 ** 20).toFixed(0)} MB`);
        // Holding the message would cost at least its 50 MB; streaming holds a few buffers.
        expect(growth).toBeLessThan(16 * 2 ** 20);
      } finally {
        child.kill();
        await child.exited;
        await reader;
      }
    }, 120_000);
  }
});
