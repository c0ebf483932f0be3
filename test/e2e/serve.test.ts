/**
 * `mtatrack serve` as a process (bun and deno on the source, and the compiled binary when dist/ has one): a message
 * with an HTML link goes in through its SMTP port, the upstream MTA receives it with the link tracked, a GET
 * of that link is a 302 to the original href, and the click arrives at a SparkPost Signals Ingest endpoint;
 * SIGTERM exits 0. Real parts only: smtp-server upstream, nodemailer client, HTTP ingest server, SQLite.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { parseKeyRing } from "../../src/core/key-ring.ts";
import { createLinkCodec } from "../../src/core/link-codec.ts";
import { trackedUrl } from "../../src/core/tracked-url.ts";
import { nativePrimitives } from "../../src/runtime/codec-primitives.ts";
import { startIngestServer, type IngestServer } from "../feeder/_ingest-server.ts";
import { until } from "../feeder/_fixtures.ts";
import { startTestUpstream, type TestUpstream } from "../wrapper/_smtp-peers.ts";

import { binaryPath, root, runners } from "./_runners.ts";

const keySpec = "e2e:0123456789abcdef0123456789abcdef";

let dir: string;
let upstream: TestUpstream;
let ingest: IngestServer;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "mtatrack-e2e-serve-"));
  upstream = await startTestUpstream();
  ingest = await startIngestServer({ apiKey: "serve-test-key" });
});
afterAll(async () => {
  await upstream.close();
  await ingest.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts serve and resolves once it logged "Ready" (with the bound tracker URL and SMTP port). */
async function startServe(argv: string[], name: string, extra: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn([...argv, "serve", "--store", `sqlite:${join(dir, `${name}.db`)}`, "--tracker-hostport", "127.0.0.1:0",
    "--smtp-hostport", "127.0.0.1:0", "--link-key", keySpec, ...extra], {
    cwd: dir, stdout: "pipe", stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", MTATRACK_LINK_KEYS: "", MTATRACK_STORE: "", SPARKPOST_API_KEY_INGEST: "", ...env },
  });
  const out = { stdout: "", stderr: "" };
  const pump = (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => (async () => {
    const decoder = new TextDecoder();
    const reader = stream.getReader();
    for (let c = await reader.read(); !c.done; c = await reader.read()) out[key] += decoder.decode(c.value, { stream: true });
  })();
  const pumps = Promise.all([pump(proc.stdout as ReadableStream<Uint8Array>, "stdout"), pump(proc.stderr as ReadableStream<Uint8Array>, "stderr")]);
  await until(() => /Ready: /.test(out.stderr) || proc.exitCode !== null, "serve to be ready", 20_000);
  const ready = /Ready: tracker (\S+?),(?: SMTP port (\d+),)?/.exec(out.stderr);
  if (!ready) throw new Error(`serve did not start:\n${out.stderr}`);
  return {
    proc, out, trackerUrl: ready[1]!, smtpPort: ready[2] ? Number(ready[2]) : null,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      proc.kill(signal);
      const code = await proc.exited;
      await pumps;
      return code;
    },
  };
}

/** The message as the MTA got it, with quoted-printable and base64 bodies decoded, for finding links. */
function decodedBody(raw: Buffer): string {
  const text = raw.toString("latin1");
  const qp = text.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  const b64 = [...text.matchAll(/\r?\n\r?\n([A-Za-z0-9+/=\r\n]{40,})/g)].map((m) => Buffer.from(m[1]!.replace(/\s/g, ""), "base64").toString("latin1"));
  return [qp, ...b64].join("\n");
}

for (const runner of runners) {
  // Skipped only where deno or the built binary is absent; MTATRACK_REQUIRE_BINARY=1 (CI) makes a missing binary fail.
  describe.skipIf(runner.skip)(`mtatrack serve via ${runner.name}`, () => {
    if (runner.binary) {
      test("the binary exists (build it with npm run build:single)", () => {
        expect(existsSync(binaryPath)).toBe(true);
      });
    }

    test("a link mailed through the SMTP port is tracked, redirects, and its click reaches the ingest endpoint; SIGTERM exits 0", async () => {
      const name = runner.binary ? "binary" : runner.argv[0] === process.execPath ? "bun" : "deno";
      const serve = await startServe(runner.argv, name, ["--out-hostport", `127.0.0.1:${upstream.port}`, "--upstream-tls", "none", "--auth", "none",
        "--batch-age", "200ms", "--fast-click", "0"], { SPARKPOST_API_KEY_INGEST: "serve-test-key", SPARKPOST_HOST_INGEST: ingest.url });
      try {
        expect(serve.smtpPort).not.toBeNull();
        const target = `https://example.com/landing/${name}?utm=serve&x=1`;
        const transport = nodemailer.createTransport({ host: "127.0.0.1", port: serve.smtpPort!, ignoreTLS: true });
        const before = upstream.received.length;
        await transport.sendMail({ from: "sender@example.org", to: `reader-${name}@example.net`, subject: "serve e2e",
          html: `<html><body><p>Hello <a href="${target}">read more</a></p></body></html>`, text: "Hello" });
        transport.close();
        expect(upstream.received.length).toBe(before + 1);
        const body = decodedBody(upstream.received.at(-1)!.data);
        const links = [...body.matchAll(/href="([^"]+)"/g)].map((m) => m[1]!).filter((h) => h.startsWith(`${serve.trackerUrl}/`));
        expect(links.length).toBeGreaterThanOrEqual(1);
        expect(body).not.toContain(`href="${target.replaceAll("&", "&amp;")}"`);

        const res = await fetch(links[0]!, { redirect: "manual", headers: { "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0" } });
        expect(res.status).toBe(302);
        expect(res.headers.get("location")).toBe(target);

        await until(() => ingest.events().some((e) => e.type === "click" && e.target_link_url === target), "the click at the ingest endpoint");
        const click = ingest.events().find((e) => e.type === "click" && e.target_link_url === target)!;
        expect(click.rcpt_to).toBe(`reader-${name}@example.net`);
      } finally {
        expect(await serve.stop()).toBe(0);
      }
      expect(serve.out.stderr).toMatch(/SIGTERM: stopping wrapper, tracker, feeder/);
      expect(serve.out.stderr).toMatch(/Stopped/);
    });

    if (runner.name.startsWith("bun")) {
      test("a port already taken is one clear line and exit 1, after closing what had started", async () => {
        const blocker = net.createServer();
        await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
        const taken = (blocker.address() as net.AddressInfo).port;
        try {
          const proc = Bun.spawn([...runner.argv, "serve", "--store", `sqlite:${join(dir, "taken.db")}`, "--tracker-hostport", "127.0.0.1:0",
            "--smtp-hostport", `127.0.0.1:${taken}`, "--out-hostport", `127.0.0.1:${upstream.port}`, "--upstream-tls", "none", "--link-key", keySpec],
          { cwd: dir, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", SPARKPOST_API_KEY_INGEST: "" } });
          expect(await proc.exited).toBe(1);
          const stderr = await new Response(proc.stderr).text();
          expect(stderr).toMatch(new RegExp(`mtatrack: Cannot listen on 127\\.0\\.0\\.1:${taken}: `));
          expect(stderr).not.toMatch(/unexpected error/);
        } finally {
          blocker.close();
        }
      });

      test("without --out-hostport the SMTP part is off and says so; without sinks, events go to stdout as NDJSON", async () => {
        const serve = await startServe(runner.argv, "no-smtp", []);
        let code: number;
        try {
          expect(serve.smtpPort).toBeNull();
          expect(serve.out.stderr).toMatch(/SMTP part off: no --out-hostport/);
          expect(serve.out.stderr).toMatch(/events go to stdout as NDJSON/);
          expect((await fetch(`${serve.trackerUrl}/healthz`)).status).toBe(200);
          const codec = createLinkCodec({ primitives: nativePrimitives, keys: parseKeyRing([keySpec]) });
          const token = codec.encode({ action: "click", msgId: "0000feedfacecafe0001", rcpt: "ann@example.com", targetUrl: "https://example.com/stdout" });
          const res = await fetch(trackedUrl(serve.trackerUrl, token), { redirect: "manual" });
          expect(res.status).toBe(302);
          await until(() => serve.out.stdout.includes("\n"), "an NDJSON line on stdout");
          const event = JSON.parse(serve.out.stdout.split("\n")[0]!);
          expect(event).toMatchObject({ type: "click", message_id: "0000feedfacecafe0001", rcpt_to: "ann@example.com", target_link_url: "https://example.com/stdout" });
        } finally {
          code = await serve.stop("SIGINT");
        }
        expect(code).toBe(0);
      });

      test("the SMTP part without a link key is refused before anything listens", async () => {
        const proc = Bun.spawn([...runner.argv, "serve", "--store", `sqlite:${join(dir, "nokey.db")}`, "--tracker-hostport", "127.0.0.1:0",
          "--smtp-hostport", "127.0.0.1:0", "--out-hostport", `127.0.0.1:${upstream.port}`],
        { cwd: dir, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", MTATRACK_LINK_KEYS: "" } });
        expect(await proc.exited).toBe(1);
        const stderr = await new Response(proc.stderr).text();
        expect(stderr).toMatch(/mtatrack: Cannot sign v2 links without a key: give --link-key/);
        expect(stderr).not.toMatch(/Listening/);
      });

      test("a flag two parts mean differently is refused with the names to use", async () => {
        const proc = Bun.spawn([...runner.argv, "serve", "--in-hostport", ":2525"], { cwd: dir, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
        expect(await proc.exited).toBe(1);
        expect(await new Response(proc.stderr).text()).toMatch(/serve does not take --in-hostport: use --tracker-hostport \(HTTP\) or --smtp-hostport \(SMTP\)/);
      });
    }
  });
}
