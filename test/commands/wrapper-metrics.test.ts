/**
 * @module `mtatrack wrapper --metrics-listen` as a process: the rewriter's outcomes (DKIM skips included)
 * are counted on the wrapper's one /metrics, next to the proxy's own counters.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { startTestUpstream, type TestUpstream } from "../wrapper/_smtp-peers.ts";

const root = join(import.meta.dir, "../..");
const bun = join(root, "node_modules/.bin/bun");

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function send(port: number, raw: Buffer) {
  const t = nodemailer.createTransport({ host: "127.0.0.1", port, ignoreTLS: true });
  return t.sendMail({ envelope: { from: "a@example.com", to: ["b@example.com"] }, raw }).finally(() => t.close());
}

const fixture = (name: string) => readFileSync(join(root, "test/wrapper/fixtures", name));

describe("mtatrack wrapper metrics", () => {
  let upstream: TestUpstream;
  let proc: ReturnType<typeof Bun.spawn> | null = null;
  beforeAll(async () => {
    upstream = await startTestUpstream();
  });
  afterAll(async () => {
    if (proc && proc.exitCode === null) proc.kill("SIGKILL");
    await upstream.close();
  });

  test("wrapper's /metrics counts rewritten and DKIM-skipped messages", async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    proc = Bun.spawn([bun, "src/main.ts", "wrapper", "--in-hostport", `127.0.0.1:${port}`, "--out-hostport", `127.0.0.1:${upstream.port}`,
      "--tracking-url", "http://t.example.com", "--track-click", "--link-key", "k1:0123456789abcdef0123", "--metrics-listen", `127.0.0.1:${metricsPort}`],
      { cwd: root, stdout: "pipe", stderr: "pipe" });
    let log = "";
    const reader = (async () => {
      for await (const chunk of proc!.stderr as unknown as AsyncIterable<Uint8Array>) log += new TextDecoder().decode(chunk);
    })();
    const deadline = Date.now() + 20_000;
    while (!log.includes("Metrics on")) {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`wrapper did not start: ${log}`);
      await Bun.sleep(50);
    }
    expect((await send(port, fixture("01-simple-html-7bit.eml"))).response).toMatch(/^250 /);
    expect((await send(port, fixture("17-dkim-signed.eml"))).response).toMatch(/^250 /);
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(text).toContain('mtatrack_rewriter_messages_total{outcome="rewritten",reason=""} 1');
    expect(text).toContain('mtatrack_rewriter_messages_total{outcome="unchanged",reason="dkim-signed"} 1');
    expect(text).toContain('mtatrack_wrapper_messages_total{result="accepted"} 2');
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    await reader;
  });
});
