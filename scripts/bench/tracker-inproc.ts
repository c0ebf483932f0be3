/**
 * @module The tracker's request path in one process, without the kernel: what scripts/bench/tracker.sh cannot
 * separate from the system calls and the noise of a shared VM. The tracker's own HTTP server (wire-serve.ts)
 * is started with `Bun.listen` captured, and 64 fake connections feed it whole requests (the same paths as
 * tracker.sh, a browser user agent); their answers are counted, not sent, and the queue answers at once
 * (an in-memory stand-in: the store's cost is tracker.sh's business). Prints the CPU time per answered
 * request (user + system of this process), the median of `--rounds` rounds after a warm-up.
 *
 * Usage: bun scripts/bench/tracker-inproc.ts [--kind click|pixel] [--rounds 5] [--src DIR]
 * `--src` runs another checkout's src/ (an A/B of two commits). Pin it to one CPU (`taskset -c 1`): unpinned,
 * its figure jumps between two levels about 40% apart on a 2-vCPU VM. Pinned, one CPU can run that much slower
 * than the other for a while: run once on each first and use the faster. BENCHMARKS.md, tracker, session 10,
 * has the A/B loop.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { tokenPaths } from "./tracker-tokens.ts";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const kind = arg("kind", "click");
const rounds = Number(arg("rounds", "5"));
const src = resolve(arg("src", join(import.meta.dir, "../..")), "src");

const { createTracker } = await import(`${src}/tracker/tracker.ts`);
const { createLinkCodec } = await import(`${src}/core/link-codec.ts`);
const { parseKeyRing } = await import(`${src}/core/key-ring.ts`);
const { nativePrimitives } = await import(`${src}/runtime/codec-primitives.ts`);
const { serveWire } = await import(`${src}/runtime/wire-serve.ts`);
const { openSpool } = await import(`${src}/tracker/spool.ts`);
const { builtinMachineRanges } = await import(`${src}/core/machine-ranges.ts`);

const key = "bench:0123456789abcdef0123456789abcdef";
const codec = createLinkCodec({ primitives: nativePrimitives, keys: parseKeyRing([key]) });
// tracker.sh's paths, encoded by the codec under test (so `--src` gets its own token format).
const paths = tokenPaths(codec, kind, 20_000);
const agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const requests = paths.map((p) => Buffer.from(`GET ${p} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: ${agent}\r\n\r\n`, "latin1"));

let nextId = 0;
const store = {
  description: "in-memory stand-in",
  kv: {
    setMany: async () => {},
    getMany: async (keys: string[]) => keys.map(() => null),
    setIfAbsent: async () => true,
    setIfAbsentMany: async (keys: string[]) => keys.map(() => true),
  },
  queue: () => ({
    push: async (bodies: string[]) => bodies.map(() => String(++nextId)),
    claim: async () => [],
    ack: async () => {},
    stats: async () => ({ depth: 0, pending: 0, oldestAgeMs: null }),
  }),
  ping: async () => {},
  close: async () => {},
};
const dir = mkdtempSync(join(tmpdir(), "mtatrack-inproc-"));
const spool = openSpool({ path: join(dir, "spool"), maxBytes: 1 << 20 });
const tracker = createTracker({ store, codec, spool, machineRanges: builtinMachineRanges });

// serveWire calls Bun.listen once; its socket handlers are what the fake connections drive.
type Handlers = { open(s: unknown): void; data(s: unknown, chunk: Buffer): void };
let handlers: Handlers | null = null;
(Bun as unknown as { listen: unknown }).listen = (opts: { socket: Handlers }) => {
  handlers = opts.socket;
  return { port: 1, stop() {} };
};
await serveWire(tracker.wireHandler, { hostname: "127.0.0.1", port: 0 });
if (!handlers) throw new Error("serveWire did not call Bun.listen");
const server: Handlers = handlers;

let answers = 0;
// A real socket's write copies the answer's bytes out (a text answer encoded, a rope of concatenated text
// flattened first): so does this one, or work moved from the server into the write would look saved.
const outBuffer = new Uint8Array(64 * 1024);
const encoder = new TextEncoder();
const connections = Array.from({ length: 64 }, () => {
  const socket = {
    remoteAddress: "127.0.0.1",
    write(data: string | Uint8Array) {
      answers++;
      if (typeof data === "string") return encoder.encodeInto(data, outBuffer).written;
      outBuffer.set(data.subarray(0, outBuffer.length));
      return data.byteLength;
    },
    end() {},
    terminate() {},
    pause() {},
    resume() {},
  };
  server.open(socket);
  return socket;
});

const turn = () => new Promise((r) => setImmediate(r));
let next = 0;
/** One request per connection per turn, as 64 keep-alive clients each waiting for their answer. */
async function load(n: number): Promise<void> {
  for (let i = 0; i < n; i += connections.length) {
    for (const c of connections) server.data(c, requests[next++ % requests.length]!);
    await turn();
    await turn();
  }
}

await load(64 * 2000);
const perRequest: number[] = [];
for (let r = 0; r < rounds; r++) {
  const before = process.cpuUsage();
  const answered = answers;
  await load(64 * 3000);
  const used = process.cpuUsage(before);
  perRequest.push((used.user + used.system) / (answers - answered));
}
const sorted = [...perRequest].sort((a, b) => a - b);
console.log(`tracker in process (${kind}, ${src}): ${sorted[Math.floor(sorted.length / 2)]!.toFixed(3)} µs of CPU per request, median of ${rounds} rounds (${perRequest.map((x) => x.toFixed(2)).join(" ")})`);
spool.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
