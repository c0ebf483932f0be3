/** @module The Redis store over rediss:// with a password, against a private TLS redis-server with a throwaway CA. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLIError } from "../../src/errors.ts";
import { openStore } from "../../src/stores/open-store.ts";
import { freePort } from "../helpers/redis-server.ts";

/** Why this suite cannot run here (no redis-server, no openssl, or a redis-server built without TLS), or null. */
function unavailable(): string | null {
  if (!Bun.which("redis-server")) return "redis-server is not installed";
  if (!Bun.which("openssl")) return "openssl is not installed";
  const help = Bun.spawnSync(["redis-server", "--version"]).stdout.toString();
  return help ? null : "redis-server does not run";
}

const reason = unavailable();
if (reason && process.env.CI === "true") {
  test("Redis TLS tests can run (required under CI=true)", () => expect(reason).toBeNull());
} else if (reason) {
  console.warn(`\n!!! SKIPPING Redis TLS tests: ${reason} !!!\n`);
}

describe.skipIf(reason !== null)("redis store over TLS", () => {
  const dir = mkdtempSync(join(tmpdir(), "mtatrack-tls-"));
  let port = 0;
  let proc: ReturnType<typeof Bun.spawn> | null = null;
  let ca: Buffer;

  beforeAll(async () => {
    const made = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"),
      "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]);
    if (made.exitCode !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);
    ca = readFileSync(join(dir, "cert.pem"));
    port = await freePort();
    proc = Bun.spawn(["redis-server", "--port", "0", "--tls-port", String(port), "--bind", "127.0.0.1",
      "--tls-cert-file", join(dir, "cert.pem"), "--tls-key-file", join(dir, "key.pem"), "--tls-ca-cert-file", join(dir, "cert.pem"),
      "--tls-auth-clients", "no", "--requirepass", "s3cret pass", "--save", "", "--appendonly", "no", "--dir", dir], { stdout: "ignore", stderr: "pipe" });
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
        s.end();
        break;
      } catch {
        if (Date.now() > deadline) throw new Error("TLS redis-server did not start");
        await Bun.sleep(20);
      }
    }
  });

  afterAll(async () => {
    proc?.kill("SIGTERM");
    await proc?.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  test("rediss:// with a percent-encoded password: queue and KV work, the description hides the password", async () => {
    const store = await openStore(`rediss://:s3cret%20pass@localhost:${port}/0?prefix=tls:`, { redis: { tls: { ca } } });
    try {
      const q = store.queue({ name: "events" });
      await q.push(["over-tls"]);
      const got = await q.claim("c", { max: 5, leaseMs: 10_000 });
      expect(got.map((e) => e.body)).toEqual(["over-tls"]);
      await q.ack(got.map((e) => e.id));
      await store.kv.setMany([["msgID_t", "v"]], { ttlSeconds: 60 });
      expect(await store.kv.getMany(["msgID_t"])).toEqual(["v"]);
      expect(store.description).toBe(`rediss://:***@localhost:${port}/0?prefix=tls%3A`);
    } finally {
      await store.close();
    }
  });

  test("from the command line a private CA comes from NODE_EXTRA_CA_CERTS: acct-etl stores over rediss://, and fails in one line without it", async () => {
    const url = `rediss://:s3cret%20pass@localhost:${port}/0?prefix=cli:`;
    const run = (env: Record<string, string>) => {
      const proc = Bun.spawnSync(["bun", join(import.meta.dir, "../../src/main.ts"), "acct-etl", "--store", url, "--store-retry", "1s"], {
        stdin: new TextEncoder().encode("type,rcpt,header_x-sp-message-id\nd,a@example.com,0000tls0001\n"),
        env: { ...process.env, MTATRACK_LOG_LEVEL: "warn", ...env }, stdout: "pipe", stderr: "pipe" });
      return { code: proc.exitCode, stderr: proc.stderr.toString() };
    };
    const trusted = run({ NODE_EXTRA_CA_CERTS: join(dir, "cert.pem") });
    expect(trusted).toEqual({ code: 0, stderr: "" });
    const store = await openStore(url, { redis: { tls: { ca } } });
    try {
      expect(await store.kv.getMany(["msgID_0000tls0001"])).toEqual(['{"rcpt":"a@example.com"}']);
    } finally {
      await store.close();
    }
    const untrusted = run({});
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).not.toContain("s3cret");
    expect(untrusted.stderr.trim().split("\n").at(-1)).toStartWith("mtatrack: ");
  }, 30_000);

  test("a wrong password is a one-line ESTORE error without the password", async () => {
    const err = (await openStore(`rediss://:wrong-one@localhost:${port}/0`, { redis: { tls: { ca } } }).catch((e: unknown) => e)) as CLIError;
    expect(err).toBeInstanceOf(CLIError);
    expect(err.code).toBe("ESTORE");
    expect(err.message).toStartWith(`Cannot open store "rediss://:***@localhost:${port}/0": `);
    expect(err.message).not.toContain("wrong-one");
    expect(err.message).not.toContain("\n");
  });

  test("an untrusted server certificate is a one-line ESTORE error", async () => {
    const err = (await openStore(`rediss://:s3cret%20pass@localhost:${port}/0`).catch((e: unknown) => e)) as CLIError;
    expect(err.code).toBe("ESTORE");
    expect(err.message).not.toContain("s3cret");
    expect(err.message).not.toContain("\n");
  });
});
