/**
 * @module The proxy relays exactly what the rewriter makes: for every fixture of the rewriter's corpus, the
 * upstream MTA receives the rewriter's output for the message the client sent, byte for byte.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createLinkCodec } from "../../src/core/link-codec.ts";
import { nativePrimitives } from "../../src/runtime/codec-primitives.ts";
import { createMessageRewriter, rewriteMessageBytes } from "../../src/wrapper/message-rewriter.ts";
import type { MessageRewriterDeps } from "../../src/wrapper/types.ts";
import { corpus } from "./corpus.ts";
import nodemailer from "nodemailer";
import { makeCert, rawClient, startProxy, startTestUpstream, type TestUpstream } from "./_smtp-peers.ts";

const codec = createLinkCodec({ primitives: nativePrimitives, keys: [{ kid: "k1", secret: new TextEncoder().encode("0123456789abcdef0123") }] });
// A fixed message id and clock make the rewrite deterministic (v2 tokens are an HMAC).
const deps: MessageRewriterDeps = {
  codec,
  trackingUrl: "https://track.example.com",
  options: { trackOpen: true, trackInitialOpen: true, trackClick: true },
  newMessageId: () => "0000aaaabbbbccccdddd",
  now: () => 1_800_000_000_000,
};

/** What a client puts on the wire for `message` in DATA: dot-stuffed (RFC 5321 §4.5.2), ending in CRLF. */
function onTheWire(message: Buffer): { sent: Buffer; wire: Buffer } {
  const sent = message.subarray(-2).toString("latin1") === "\r\n" ? message : Buffer.concat([message, Buffer.from("\r\n")]);
  const wire = Buffer.from(sent.toString("latin1").replace(/(^|\n)\./g, "$1.."), "latin1");
  return { sent, wire };
}

const fixtures = corpus();

describe("smtp proxy with the real rewriter", () => {
  let upstream: TestUpstream;
  let port: number;
  let close: () => Promise<void>;
  beforeAll(async () => {
    upstream = await startTestUpstream();
    ({ port, close } = await startProxy(upstream.port, { rewriter: createMessageRewriter(deps) }));
  });
  afterAll(async () => {
    await close();
    await upstream.close();
  });

  test("the corpus is there", () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(30);
  });

  for (const fixture of fixtures) {
    test(`upstream receives the rewriter's output byte for byte: ${fixture.name}`, async () => {
      const { sent, wire } = onTheWire(fixture.bytes);
      const expected = await rewriteMessageBytes(deps, sent, { rcpt: "rcpt@example.com" });
      const c = await rawClient(port);
      await c.reply();
      c.send("EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<rcpt@example.com>\r\nDATA\r\n");
      for (let i = 0; i < 3; i++) await c.reply();
      expect(await c.reply()).toMatch(/^354 /);
      c.socket.write(wire);
      c.send(".\r\nQUIT\r\n");
      expect(await c.reply()).toMatch(/^250 /);
      await c.reply();
      const got = upstream.received.at(-1)!.data;
      expect(got.equals(expected.bytes)).toBe(true);
    });
  }
});

describe("the original's wrapper sandwich with the real rewriter, STARTTLS on both legs", () => {
  const kinds = ["30-text-only.eml", "01-simple-html-7bit.eml", "03-alternative-base64-html.eml", "06-nested-mixed-related-attachment.eml", "07-forwarded-rfc822.eml"];
  test("20 messages of each kind arrive rewritten, with X-Sp-Message-Id, after AUTH PLAIN", async () => {
    const cert = makeCert();
    const upstream = await startTestUpstream({ tls: cert });
    const { port, close } = await startProxy(upstream.port, {
      tls: cert,
      rewriter: createMessageRewriter({ ...deps, newMessageId: undefined }),
      upstream: { host: "127.0.0.1", port: upstream.port, ehloName: "w", tls: { ca: cert.cert } },
    });
    try {
      const t = nodemailer.createTransport({ pool: true, maxConnections: 1, host: "127.0.0.1", port, requireTLS: true, tls: { ca: cert.cert, servername: "localhost" }, auth: { user: "alice", pass: "secret" } });
      for (const kind of kinds) {
        const raw = fixtures.find((f) => f.name === kind)!.bytes;
        for (let i = 0; i < 20; i++) await t.sendMail({ envelope: { from: "a@example.com", to: [`r${i}@example.com`] }, raw });
      }
      t.close();
      expect(upstream.received).toHaveLength(20 * kinds.length);
      for (const r of upstream.received) {
        expect(r.secure).toBe(true);
        expect(r.user).toBe("alice");
        expect(r.data.toString("latin1")).toMatch(/^X-Sp-Message-Id: [0-9a-f]{20}\r\n/m);
      }
      // Every HTML kind carries tracked links or pixels on the tracking domain (base64 parts decoded first).
      const html = upstream.received.slice(20).map((r) => r.data.toString("latin1"));
      const decoded = (m: string) => m + [...m.matchAll(/Content-Transfer-Encoding: base64\r\n(?:[^\r\n]+\r\n)*\r\n([A-Za-z0-9+/=\r\n]+)/gi)].map((b) => Buffer.from(b[1]!, "base64").toString("latin1")).join("");
      expect(html.map((m, i) => [kinds[1 + Math.floor(i / 20)], decoded(m).includes("track.example.com")]).filter(([, ok]) => !ok)).toEqual([]);
    } finally {
      await close();
      await upstream.close();
    }
  }, 60_000);
});
