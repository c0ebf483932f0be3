/**
 * `mtatrack tracker` as a process, under Bun and (a smoke case) Deno: flags in the original's spelling,
 * pixel and click over HTTP, SIGTERM finishing in-flight requests and exiting 0 with the events stored;
 * native TLS.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, redisUnavailableReason, startRedis } from "../helpers/redis-server.ts";
import { openStore } from "../../src/stores/open-store.ts";
import { createLinkCodec } from "../../src/core/link-codec.ts";
import { parseKeyRing } from "../../src/core/key-ring.ts";
import { nativePrimitives } from "../../src/runtime/codec-primitives.ts";
import { hostTarget } from "../../scripts/build-targets.ts";

const root = join(import.meta.dir, "../..");
const keySpec = "e2e:0123456789abcdef0123456789abcdef";
const codec = createLinkCodec({ primitives: nativePrimitives, keys: parseKeyRing([keySpec]) });
const deno = [join(root, "node_modules/.bin/deno"), Bun.which("deno")].find((p): p is string => Boolean(p && existsSync(p))) ?? null;
const binaryPath = join(root, "dist", hostTarget().file);
const requireBinary = process.env.MTATRACK_REQUIRE_BINARY === "1";
const main = join(root, "src/main.ts");

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "mtatrack-e2e-tracker-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function startProcess(runtime: string[], name: string, extra: string[] = [], storeUrl?: string, env: Record<string, string | undefined> = {}) {
  const port = await freePort();
  const store = storeUrl ?? `sqlite:${join(dir, `${name}.db`)}`;
  const proc = Bun.spawn([...runtime, "tracker", "-in_hostport", `127.0.0.1:${port}`, "--store", store,
    "--spool", join(dir, `${name}.spool`), "--link-key", keySpec, ...extra], { stdout: "pipe", stderr: "pipe", cwd: root, env: { ...process.env, NO_COLOR: "1", ...env } });
  let stderr = "";
  const reader = (async () => {
    const r = (proc.stderr as ReadableStream<Uint8Array>).getReader();
    for (let c = await r.read(); !c.done; c = await r.read()) stderr += new TextDecoder().decode(c.value);
  })();
  const deadline = Date.now() + 20_000;
  while (!stderr.includes("Starting http server") && Date.now() < deadline && proc.exitCode === null) await Bun.sleep(50);
  if (!stderr.includes("Starting http server")) throw new Error(`tracker did not start: ${stderr}`);
  return { proc, port, store, stderr: () => stderr, reader };
}

async function eventsIn(storeUrl: string): Promise<{ type: string; msg_id: string }[]> {
  const store = await openStore(storeUrl);
  try {
    const got = await store.queue({ name: "events", group: "e2e" }).claim("e2e", { max: 100, leaseMs: 1000 });
    return got.map((e) => JSON.parse(e.body));
  } finally {
    await store.close();
  }
}

const runtimes: [string, string[] | null][] = [
  ["bun", [process.execPath, main]],
  ["deno", deno ? [deno, "run", "-A", main] : null],
  ["the compiled binary", existsSync(binaryPath) || requireBinary ? [binaryPath] : null],
];

for (const [name, runtime] of runtimes) {
  describe.skipIf(!runtime)(`mtatrack tracker under ${name}`, () => {
    test("serves a pixel and a click, then SIGTERM finishes in-flight requests and exits 0 with the events stored", async () => {
      const t = await startProcess(runtime!, name);
      const base = `http://127.0.0.1:${t.port}/`;
      const pixel = await fetch(base + codec.encode({ action: "open", msgId: `${name}-1`, rcpt: null, targetUrl: null }));
      expect(pixel.status).toBe(200);
      expect((await pixel.arrayBuffer()).byteLength).toBe(44);
      const click = await fetch(base + codec.encode({ action: "click", msgId: `${name}-1`, rcpt: null, targetUrl: "https://example.com/" }), { redirect: "manual" });
      expect(click.status).toBe(302);
      expect((await fetch(base + "robots.txt")).status).toBe(200);
      // Requests in flight when the signal arrives are still answered.
      const inFlight = Array.from({ length: 20 }, (_, i) => fetch(base + codec.encode({ action: "open", msgId: `${name}-late-${i}`, rcpt: null, targetUrl: null })));
      // Signal once the first of them is answered, so the rest are surely in flight (a fixed sleep raced on a loaded CI machine).
      await Promise.race([Promise.any(inFlight), Bun.sleep(5_000)]);
      t.proc.kill("SIGTERM");
      const answered = await Promise.allSettled(inFlight);
      const code = await t.proc.exited;
      await t.reader;
      expect(code).toBe(0);
      expect(t.stderr()).toContain("SIGTERM");
      const ok = answered.filter((r) => r.status === "fulfilled" && r.value.status === 200).length;
      expect(ok).toBeGreaterThan(0);
      const events = await eventsIn(t.store);
      // Every request that got its pixel has its event stored; nothing else.
      expect(events.filter((e) => e.msg_id.startsWith(`${name}-late-`))).toHaveLength(ok);
      expect(events.filter((e) => e.msg_id === `${name}-1`).map((e) => e.type)).toEqual(["open", "click"]);
    }, 60_000);

    // Linux only: the process's environment is read from /proc/<pid>/environ.
    test.skipIf(process.platform !== "linux")("runs as the same process restarted with MIMALLOC_PURGE_DELAY=1000 (Bun), and leaves an operator's value alone", async () => {
      const environ = (pid: number) => readFileSync(`/proc/${pid}/environ`, "latin1").split("\0");
      for (const [given, expected] of [[undefined, name === "deno" ? undefined : "1000"], ["10", "10"]] as const) {
        const t = await startProcess(runtime!, `${name}-alloc-${given}`, [], undefined, { MIMALLOC_PURGE_DELAY: given });
        try {
          // The process that answers is the one spawned: execve keeps the PID.
          expect((await fetch(`http://127.0.0.1:${t.port}/robots.txt`)).status).toBe(200);
          const value = environ(t.proc.pid).find((v) => v.startsWith("MIMALLOC_PURGE_DELAY="));
          expect(value).toBe(expected === undefined ? undefined : `MIMALLOC_PURGE_DELAY=${expected}`);
          expect(t.stderr()).not.toContain("default page purging");
        } finally {
          t.proc.kill("SIGTERM");
          expect(await t.proc.exited).toBe(0);
        }
      }
    }, 60_000);

    test("-logfile follows its path when logrotate moves the file: later lines go to a new file, no signal needed", async () => {
      const logPath = join(dir, `${name.replace(/\W/g, "-")}.log`);
      const port = await freePort();
      const proc = Bun.spawn([...runtime!, "tracker", "-in_hostport", `127.0.0.1:${port}`, "--store", `sqlite:${join(dir, `${name}-log.db`)}`,
        "--spool", join(dir, `${name}-log.spool`), "--link-key", keySpec, "-logfile", logPath], { stdout: "ignore", stderr: "pipe", cwd: root });
      const logged = () => (existsSync(logPath) ? readFileSync(logPath, "utf8") : "");
      const deadline = Date.now() + 20_000;
      while (!logged().includes("Starting http server") && Date.now() < deadline && proc.exitCode === null) await Bun.sleep(50);
      expect(logged()).toContain("Starting http server");
      renameSync(logPath, `${logPath}.1`); // logrotate's default "create" mode
      await Bun.sleep(1200); // past the writer's once-a-second look at the path
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      const rotated = readFileSync(`${logPath}.1`, "utf8");
      expect(rotated).toContain("Starting http server");
      expect(rotated).not.toContain("Stopped");
      expect(logged()).toMatch(/SIGTERM: finishing in-flight requests[\s\S]*Stopped\n$/);
      expect(await new Response(proc.stderr as ReadableStream).text()).toBe("");
    }, 60_000);
  });
}

describe("mtatrack tracker flags", () => {
  test.skipIf(!Bun.which("openssl"))("native TLS with --tls-cert and --tls-key", async () => {
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    const gen = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"], { stderr: "pipe" });
    expect(gen.exitCode).toBe(0);
    const t = await startProcess([process.execPath, main], "tls", ["--tls-cert", cert, "--tls-key", key]);
    try {
      const res = await fetch(`https://127.0.0.1:${t.port}/robots.txt`, { tls: { rejectUnauthorized: false } } as RequestInit);
      expect(res.status).toBe(200);
      expect(res.headers.get("server")).toBe("msys-http");
    } finally {
      t.proc.kill("SIGTERM");
      expect(await t.proc.exited).toBe(0);
    }
  }, 60_000);

  test("--workers 2 serves from two processes on one port, each with its own spool, and stops on SIGTERM", async () => {
    const t = await startProcess([process.execPath, main], "workers", ["--workers", "2"]);
    try {
      const deadline = Date.now() + 20_000;
      while (!(t.stderr().includes("[tracker:1]") && t.stderr().includes("[tracker:2]")) && Date.now() < deadline) await Bun.sleep(50);
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) =>
        fetch(`http://127.0.0.1:${t.port}/${codec.encode({ action: "open", msgId: `w-${i}`, rcpt: null, targetUrl: null })}`)));
      expect(answers.every((r) => r.status === 200)).toBe(true);
      expect(existsSync(join(dir, "workers.spool.w1"))).toBe(true);
      expect(existsSync(join(dir, "workers.spool.w2"))).toBe(true);
    } finally {
      t.proc.kill("SIGTERM");
      expect(await t.proc.exited).toBe(0);
    }
    expect((await eventsIn(t.store)).filter((e) => e.msg_id.startsWith("w-"))).toHaveLength(20);
  }, 60_000);

  test.skipIf(Boolean(redisUnavailableReason() || process.env.REDIS_URL))("SIGTERM with Redis down exits 0 and keeps the spool; the next start replays it exactly once", async () => {
    const redis = await startRedis({ appendonly: true });
    try {
      const url = `${redis.url}/0?prefix=e2e-spool:`;
      const first = await startProcess([process.execPath, main], "outage", ["--store-timeout", "200ms"], url);
      const base = `http://127.0.0.1:${first.port}/`;
      const click = (i: number) => fetch(base + codec.encode({ action: "click", msgId: `outage-${i}`, rcpt: null, targetUrl: `https://example.com/${i}` }), { redirect: "manual" });
      expect((await click(0)).status).toBe(302);
      await redis.kill();
      const during = await Promise.all(Array.from({ length: 10 }, (_, i) => click(i + 1)));
      expect(during.map((r) => r.status)).toEqual(Array(10).fill(302));
      const stopped = Date.now();
      first.proc.kill("SIGTERM");
      expect(await first.proc.exited).toBe(0);
      expect(Date.now() - stopped).toBeLessThan(8_000);
      expect(first.stderr()).toContain("stay in the spool");

      await redis.restart();
      const second = await startProcess([process.execPath, main], "outage", [], url);
      const deadline = Date.now() + 15_000;
      const events: { msg_id: string }[] = [];
      while (Date.now() < deadline && events.length < 11) {
        events.push(...(await eventsIn(url))); // claimed and leased: each call returns only new ones
        await Bun.sleep(200);
      }
      if (events.length < 11) console.error(second.stderr());
      second.proc.kill("SIGTERM");
      expect(await second.proc.exited).toBe(0);
      expect(events.map((e) => e.msg_id).sort()).toEqual(Array.from({ length: 11 }, (_, i) => `outage-${i}`).sort());
    } finally {
      await redis.stop();
    }
  }, 60_000);

  test("--http-server runtime (Bun.serve) answers pixels, clicks, HEAD and refusals as the default server does", async () => {
    const own = await startProcess([process.execPath, main], "http-own");
    const bun = await startProcess([process.execPath, main], "http-runtime", ["--http-server", "runtime"]);
    try {
      const pixel = codec.encode({ action: "open", msgId: "hs-1", rcpt: null, targetUrl: null });
      const click = codec.encode({ action: "click", msgId: "hs-2", rcpt: null, targetUrl: "https://example.com/a?b=c" });
      const seen = async (port: number) => {
        const out: unknown[] = [];
        for (const [method, path] of [["GET", pixel], ["HEAD", pixel], ["GET", click], ["GET", "robots.txt"], ["GET", "not-a-token"], ["POST", pixel]] as const) {
          const res = await fetch(`http://127.0.0.1:${port}/${path}`, { method, redirect: "manual" });
          const body = new Uint8Array(await res.arrayBuffer());
          out.push([method, res.status, res.headers.get("server"), res.headers.get("content-type"), res.headers.get("location"),
            res.headers.get("cache-control"), res.headers.get("content-length"), [...body].join(",")]);
        }
        return out;
      };
      const [a, b] = [await seen(own.port), await seen(bun.port)];
      expect(a).toEqual(b);
      expect((a[0] as unknown[]).slice(0, 4)).toEqual(["GET", 200, "msys-http", "image/gif"]);
      expect((a[2] as unknown[]).slice(0, 5)).toEqual(["GET", 302, "msys-http", "text/plain", "https://example.com/a?b=c"]);
    } finally {
      for (const t of [own, bun]) {
        t.proc.kill("SIGTERM");
        expect(await t.proc.exited).toBe(0);
      }
    }
    // Each server queued one open and one click: HEAD and the refusals queue nothing.
    for (const t of [own, bun]) expect((await eventsIn(t.store)).map((e) => e.type).sort()).toEqual(["click", "open"]);
  }, 60_000);

  test("an unknown --http-server exits 1 naming the value and the choices", async () => {
    const proc = Bun.spawn([process.execPath, main, "tracker", "--http-server", "nginx"], { stderr: "pipe", stdout: "pipe", cwd: root });
    expect(await proc.exited).toBe(1);
    expect(await new Response(proc.stderr).text()).toMatch(/"nginx".*mtatrack.*runtime/);
  });

  test("a bad flag value exits 1 with the reason", async () => {
    const proc = Bun.spawn([process.execPath, main, "tracker", "--trust-proxy", "10.0.0.0/99"], { stderr: "pipe", stdout: "pipe", cwd: root });
    expect(await proc.exited).toBe(1);
    expect(await new Response(proc.stderr).text()).toContain('"10.0.0.0/99"');
  });
});
