/** @module Test harness: a real redis-server of the test's own on a free loopback port (or REDIS_URL), never a mock. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` (or REDIS_URL). */
  readonly url: string;
  readonly port: number;
  /** False when REDIS_URL points at a server this harness did not start: kill/restart are then unavailable. */
  readonly owned: boolean;
  /** SIGKILL: the server dies mid-whatever, as in a crash. */
  kill(): Promise<void>;
  /** Starts the server again on the same port (after kill or stop). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `base` (a harness URL or REDIS_URL) with its database number and a key prefix set, replacing any already there,
 * so tests can keep out of each other's way on a shared server.
 */
export function redisUrlWith(base: string, opts: { db?: number; prefix?: string }): string {
  const url = new URL(base);
  if (opts.db !== undefined) url.pathname = `/${opts.db}`;
  if (opts.prefix !== undefined) url.searchParams.set("prefix", opts.prefix);
  return url.toString();
}

/** Finds a loopback port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Why Redis tests cannot run here, or null when they can. */
export function redisUnavailableReason(): string | null {
  if (process.env.REDIS_URL) return null;
  return Bun.which("redis-server") ? null : "redis-server is not installed and REDIS_URL is not set";
}

/**
 * Starts a private redis-server (no persistence unless `appendonly`; `args` are added to its command line),
 * or wraps REDIS_URL when set.
 */
export async function startRedis(opts: { appendonly?: boolean; args?: readonly string[] } = {}): Promise<RedisServer> {
  if (process.env.REDIS_URL) {
    const url = process.env.REDIS_URL;
    const unsupported = async () => {
      throw new Error("REDIS_URL server: kill/restart need a redis-server started by the harness");
    };
    return { url, port: Number(new URL(url).port || 6379), owned: false, kill: unsupported, restart: unsupported, stop: async () => {} };
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "mtatrack-redis-"));
  let proc: ReturnType<typeof Bun.spawn> | null = null;

  async function launch() {
    const args = ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--dir", dir,
      "--appendonly", opts.appendonly ? "yes" : "no", "--appendfsync", "always", "--logfile", "", ...(opts.args ?? [])];
    proc = Bun.spawn(args, { stdout: "ignore", stderr: "ignore" });
    await waitForPort(port, 5000);
  }
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    owned: true,
    async kill() {
      proc?.kill("SIGKILL");
      await proc?.exited;
      proc = null;
    },
    async restart() {
      if (proc) return;
      await launch();
    },
    async stop() {
      proc?.kill("SIGTERM");
      await proc?.exited;
      proc = null;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      socket.write("PING\r\n");
      socket.end();
      return;
    } catch {
      await Bun.sleep(20);
    }
  }
  throw new Error(`redis-server did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

/**
 * `describe` for tests that need Redis. The block gets a started server through `redis()`.
 * Without redis-server and REDIS_URL it says so loudly; under CI=true that is a failing test, not a skip.
 */
export function describeWithRedis(name: string, body: (redis: () => RedisServer) => void): void {
  const reason = redisUnavailableReason();
  if (reason) {
    if (process.env.CI === "true") {
      describe(name, () => test("Redis is available (required under CI=true)", () => expect(reason).toBeNull()));
    } else {
      console.warn(`\n!!! SKIPPING "${name}": ${reason} !!!\n`);
      describe.skip(name, () => body(() => { throw new Error(reason); }));
    }
    return;
  }
  describe(name, () => {
    let server: RedisServer;
    beforeAll(async () => { server = await startRedis(); });
    afterAll(async () => { await server?.stop(); });
    body(() => server);
  });
}
