/** The rewriter encodes each distinct link of a message once; repeats reuse the token, and the cap still counts them. */
import { describe, expect, test } from "bun:test";
import { parseKeyRing } from "../../src/core/key-ring.ts";
import { createLinkCodec, type LinkCodec } from "../../src/core/link-codec.ts";
import { nativePrimitives } from "../../src/runtime/codec-primitives.ts";
import { rewriteMessageBytes, type MessageRewriterDeps } from "../../src/wrapper/message-rewriter.ts";

const TRACKING = "https://t.example.net/trk";
const PREFIX = `${TRACKING}/`;
const real = createLinkCodec({ primitives: nativePrimitives, keys: parseKeyRing(["k1:0123456789abcdef0123456789abcdef"]) });

/** A codec that counts its click encodes. */
function counting(): { codec: LinkCodec; clicks: () => number } {
  let clicks = 0;
  return {
    codec: {
      encode(fields, opts) {
        if (fields.action === "click") clicks++;
        return real.encode(fields, opts);
      },
      decode: (token, opts) => real.decode(token, opts),
    },
    clicks: () => clicks,
  };
}

const html = [
  '<a href="https://a.example/x">1</a>',
  '<a href="https://a.example/x">2</a>',
  '<a href="https://a.example/x" data-link-name="hero">3</a>',
  '<a href="https://a.example/x" data-link-name="hero">4</a>',
  '<a href="https://a.example/x" data-link-name="">5</a>',
  '<a href="https://b.example/y">6</a>',
  '<a href="https://a.example/x">7</a>',
].join("\r\n");
const message = `From: a@example.com\r\nTo: b@example.net\r\nSubject: s\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>${html}</body></html>\r\n`;

function links(out: Buffer): { name: string | null; target: string | null; token: string }[] {
  const urls = out.toString("latin1").match(/https:\/\/t\.example\.net\/trk\/[A-Za-z0-9_.=-]*[A-Za-z0-9_=-]/g) ?? [];
  return urls.map((url) => {
    const token = url.slice(PREFIX.length);
    const result = real.decode(token, { now: Date.now() });
    if (!result.ok) throw new Error(result.message);
    return { name: result.link.linkName, target: result.link.targetUrl, token };
  });
}

describe("link tokens within one message", () => {
  test("each distinct (target, link name) is encoded once; every link decodes to its own target and name", async () => {
    const { codec, clicks } = counting();
    const deps: MessageRewriterDeps = { codec, trackingUrl: TRACKING, options: { trackOpen: false, trackClick: true } };
    const { bytes, summary } = await rewriteMessageBytes(deps, message, { rcpt: "b@example.net", messageId: "0000aaaabbbbccccdddd" });
    expect(summary.links).toBe(7);
    expect(clicks()).toBe(3); // a.example/x, a.example/x named "hero", b.example/y ("" is no name)
    const seen = links(bytes);
    expect(seen.map(({ name, target }) => [target, name])).toEqual([
      ["https://a.example/x", null],
      ["https://a.example/x", null],
      ["https://a.example/x", "hero"],
      ["https://a.example/x", "hero"],
      ["https://a.example/x", null],
      ["https://b.example/y", null],
      ["https://a.example/x", null],
    ]);
    expect(new Set(seen.map((l) => l.token)).size).toBe(3);
  });

  test("maxLinks counts repeated links too", async () => {
    const { codec } = counting();
    const deps: MessageRewriterDeps = { codec, trackingUrl: TRACKING, options: { trackOpen: false, trackClick: true }, settings: { maxLinks: 2 } };
    const { bytes, summary } = await rewriteMessageBytes(deps, message, { rcpt: "b@example.net", messageId: "0000aaaabbbbccccdddd" });
    expect(summary.links).toBe(2);
    expect(links(bytes)).toHaveLength(2);
  });

  test("messages do not share tokens (each has its own message id)", async () => {
    const deps: MessageRewriterDeps = { codec: real, trackingUrl: TRACKING, options: { trackOpen: false, trackClick: true } };
    const one = await rewriteMessageBytes(deps, message, { rcpt: "b@example.net", messageId: "0000aaaabbbbccccdddd" });
    const two = await rewriteMessageBytes(deps, message, { rcpt: "b@example.net", messageId: "1111aaaabbbbccccdddd" });
    expect(links(one.bytes)[0]!.token).not.toBe(links(two.bytes)[0]!.token);
  });
});
