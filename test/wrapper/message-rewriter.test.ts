/**
 * Golden tests of the message rewriter on the corpus (test/wrapper/fixtures/*.eml): every byte outside the
 * rewritten parts is identical, rewritten parts decode to the input's parse5 tree plus pixels, every tracked
 * link decodes back to its original href, and failures relay the input unmodified.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { parseKeyRing } from "../../src/core/key-ring.ts";
import { createLinkCodec, type DecodedLink } from "../../src/core/link-codec.ts";
import { nativePrimitives } from "../../src/runtime/codec-primitives.ts";
import { createMessageRewriter, rewriteMessageBytes, rewriteToStream, type MessageRewriterDeps, type RewriteSummary } from "../../src/wrapper/message-rewriter.ts";
import { Registry } from "prom-client";
import { createRewriteMetrics } from "../../src/wrapper/rewrite-metrics.ts";
import { canonicalTree, decodePart, splitJoin, splitMessage, type Piece, type Untracker } from "./_mime.ts";
import { corpus } from "./corpus.ts";

const codec = createLinkCodec({ primitives: nativePrimitives, keys: parseKeyRing(["k1:0123456789abcdef0123456789abcdef"]) });
const TRACKING = "https://t.example.net/trk";
const PREFIX = `${TRACKING}/`;
const MSG_ID = "0000aaaabbbbccccdddd";
const RCPT = "jane@example.net";
const allOn: MessageRewriterDeps = {
  codec,
  trackingUrl: TRACKING,
  options: { trackOpen: true, trackInitialOpen: true, trackClick: true, trackText: true },
};

function decodeLink(url: string): DecodedLink {
  const result = codec.decode(url.slice(PREFIX.length), { now: Date.now() });
  if (!result.ok) throw new Error(`Tracked link "${url}" does not decode: ${result.message}`);
  return result.link;
}

const untrack: Untracker = {
  prefix: PREFIX,
  target(url) {
    const link = decodeLink(url);
    expect(link.action).toBe("click");
    return link.targetUrl!;
  },
};

function trackedUrls(text: string): string[] {
  return text.match(/https:\/\/t\.example\.net\/trk\/[A-Za-z0-9_.=-]*[A-Za-z0-9_=-]/g) ?? [];
}

/** What each fixture must come out as, with all tracking on. */
const expected: Record<string, { outcome: RewriteSummary["outcome"]; reason?: string }> = {
  "15-broken-base64.eml": { outcome: "fallback", reason: "undecodable-part" },
  "17-dkim-signed.eml": { outcome: "unchanged", reason: "dkim-signed" },
  "37-broken-qp.eml": { outcome: "fallback", reason: "undecodable-part" },
};

function isCandidate(p: Piece): boolean {
  return p.disposition !== "attachment" && (p.contentType === "text/html" || p.contentType === "text/plain");
}

function withoutControlHeaders(headers: string): string {
  return headers.replace(/^(x-mtatrack-options|x-msys-api):[^\n]*\n/gim, "");
}

const fixtures = corpus();

describe("message rewriter on the corpus", () => {
  test("the corpus holds at least 30 messages", () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(30);
  });

  test.each(fixtures)("Splitter → Joiner reproduces $name byte for byte", async ({ bytes }) => {
    expect((await splitJoin(bytes)).equals(bytes)).toBe(true);
  });

  test.each(fixtures)("rewrite of $name keeps every other byte and reads back to the input", async ({ name, bytes }) => {
    const { bytes: out, summary } = await rewriteMessageBytes(allOn, bytes, { rcpt: RCPT, messageId: MSG_ID });
    const want = expected[name] ?? { outcome: "rewritten" };
    expect(summary.outcome).toBe(want.outcome);
    if (want.reason) expect(summary.reason).toBe(want.reason);
    expect(summary.bytesIn).toBe(bytes.length);
    expect(summary.bytesOut).toBe(out.length);
    if (summary.outcome !== "rewritten") {
      expect(out.equals(bytes)).toBe(true);
      return;
    }

    const before = await splitMessage(bytes);
    const after = await splitMessage(out);
    expect(after.map((p) => `${p.kind}:${p.contentType}`)).toEqual(before.map((p) => `${p.kind}:${p.contentType}`));
    let tracked = 0;
    for (let i = 0; i < before.length; i++) {
      const a = before[i]!;
      const b = after[i]!;
      if (a.kind === "headers" && a.root) {
        const hadId = /^x-sp-message-id:/im.test(a.bytes.toString("latin1"));
        const expectedHeaders = withoutControlHeaders(a.bytes.toString("latin1"));
        let got = b.bytes.toString("latin1");
        if (!hadId) {
          const eol = got.includes("\r\n") ? "\r\n" : "\n";
          expect(got.startsWith(`X-Sp-Message-Id: ${MSG_ID}${eol}`)).toBe(true);
          got = got.slice(`X-Sp-Message-Id: ${MSG_ID}${eol}`.length);
        }
        // a single-part message's own Content-Type/-Transfer-Encoding may change like any rewritten part's
        const strip = (h: string) => (isCandidate(a) ? h.replace(/^(Content-Transfer-Encoding|Content-Type):[^\n]*\n(?:[ \t][^\n]*\n)*/gim, "") : h);
        expect(strip(got)).toBe(strip(expectedHeaders));
        continue;
      }
      if (a.kind === "headers" && isCandidate(a) && !a.bytes.equals(b.bytes)) {
        // only the transfer encoding (long lines, 8-bit in 7bit) or the charset (re-encoded as UTF-8) may change
        const strip = (s: string) => s.replace(/^(Content-Transfer-Encoding|Content-Type):[^\n]*\n(?:[ \t][^\n]*\n)*/gim, "");
        expect(strip(b.bytes.toString("latin1"))).toBe(strip(a.bytes.toString("latin1")));
        continue;
      }
      if (a.kind === "body" && isCandidate(a) && !a.bytes.equals(b.bytes)) {
        const input = decodePart(a);
        const output = decodePart(b);
        const urls = trackedUrls(output);
        for (const url of urls) {
          const link = decodeLink(url);
          expect(link.msgId).toBe(summary.messageId!);
          expect(link.rcpt).toBe(RCPT);
          if (link.action === "click") tracked++;
        }
        if (a.contentType === "text/html") {
          expect(canonicalTree(output, untrack)).toEqual(canonicalTree(input, untrack));
        } else {
          expect(output.replace(new RegExp(`${PREFIX}[A-Za-z0-9_.=-]*[A-Za-z0-9_=-]`, "g"), (u) => untrack.target(u))).toBe(input);
        }
        continue;
      }
      if (a.kind === "data" && before[i - 1]?.kind === "body" && before[i - 1]!.bytes.length === 0 && after[i - 1]!.bytes.length > 0) {
        // a pixel added to an empty part: the line break that ended its header block now ends its body
        expect(b.bytes.toString("latin1").replace(/^\r?\n/, "")).toBe(a.bytes.toString("latin1"));
        continue;
      }
      expect(b.bytes.equals(a.bytes)).toBe(true);
    }
    expect(tracked).toBe(summary.links);

    // wire hygiene: no line over 998 octets that was not there before, no bare LF in a CRLF message
    const longest = (buf: Buffer) => Math.max(...buf.toString("latin1").split(/\r?\n/).map((l) => l.length));
    if (longest(bytes) <= 998) expect(longest(out)).toBeLessThanOrEqual(998);
    if (!/[^\r]\n/.test(bytes.toString("latin1"))) expect(/[^\r]\n/.test(out.toString("latin1"))).toBe(false);

    // deterministic with a fixed message id: what the proxy tests rely on
    const again = await rewriteMessageBytes(allOn, bytes, { rcpt: RCPT, messageId: MSG_ID });
    expect(again.bytes.equals(out)).toBe(true);
  });
});

async function rewriteFixture(name: string, deps: Partial<MessageRewriterDeps> = {}) {
  const fixture = fixtures.find((f) => f.name.startsWith(name));
  if (!fixture) throw new Error(`No fixture ${name}`);
  const result = await rewriteMessageBytes({ ...allOn, ...deps }, fixture.bytes, { rcpt: RCPT, messageId: MSG_ID });
  return { ...result, input: fixture.bytes, text: result.bytes.toString("latin1") };
}

async function htmlOf(bytes: Buffer): Promise<string[]> {
  return (await splitMessage(bytes)).filter((p) => p.kind === "body" && p.contentType === "text/html").map(decodePart);
}

describe("message rewriter behaviours", () => {
  test("opt-out attributes are honoured and removed, link names travel in the token", async () => {
    const { bytes } = await rewriteFixture("20-");
    const [html] = await htmlOf(bytes);
    const links = trackedUrls(html!).map(decodeLink).filter((l) => l.action === "click");
    expect(links.map((l) => [l.targetUrl, l.linkName])).toEqual([
      ["https://a.example.com/2b", "sparkpost-name"],
      ["https://a.example.com/7", "hero"],
      ["https://a.example.com/area", null],
    ]);
    expect(html).not.toMatch(/data-no-track|clicktracking|data-msys-clicktrack|ses:no-track|data-mautic-disable-tracking|data-unsubscribe/);
    expect(html).toContain('href="https://a.example.com/6"'); // Postal's +notrack is stripped
    expect(html).toContain('href="https://t.example.net/2.k1.already-tracked"'); // already on the tracking domain
  });

  test("a link name in a legacy charset arrives as text", async () => {
    const html = Buffer.concat([Buffer.from('<p><a href="https://a.example.com/" data-link-name="caf'), Buffer.from([0xe9]), Buffer.from('">x</a></p>')]);
    const message = Buffer.concat([Buffer.from("From: a@example.com\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n"), html]);
    const { bytes } = await rewriteMessageBytes(allOn, message, { rcpt: RCPT, messageId: MSG_ID });
    const [page] = await htmlOf(bytes);
    const link = trackedUrls(page!).map(decodeLink).find((l) => l.action === "click")!;
    expect(link.linkName).toBe("café");
  });

  test("List-Unsubscribe targets and unsubscribe-looking links are never tracked", async () => {
    const { bytes, summary } = await rewriteFixture("21-");
    const [html] = await htmlOf(bytes);
    expect(html).toContain('href="https://lists.example.org/u/8f3a?list=weekly"');
    expect(html).toContain('href="https://news.example.org/prefs/optout"');
    expect(summary.links).toBe(1);
  });

  test("VML buttons inside Outlook conditional comments are tracked", async () => {
    const { bytes } = await rewriteFixture("19-");
    const [html] = await htmlOf(bytes);
    const targets = trackedUrls(html!).map(decodeLink).filter((l) => l.action === "click").map((l) => l.targetUrl);
    expect(targets).toEqual([
      "https://events.example.com/register?e=42",
      "https://events.example.com/agenda",
      "https://events.example.com/register?e=42",
      "https://events.example.com/mso-only",
    ]);
  });

  test("pixels are the original's, initial_open after <body>, open before </body>", async () => {
    const { bytes } = await rewriteFixture("01-", { options: { trackOpen: true, trackInitialOpen: true, trackClick: false } });
    const [html] = await htmlOf(bytes);
    // a fragment has no <body>: the open pixel goes at its end, no initial_open
    expect(html).toMatch(/<img border="0" width="1" height="1" alt="" src="https:\/\/t\.example\.net\/trk\/2\.k1\.[^"]+">\r\n$/);
    const { bytes: full } = await rewriteFixture("22-", { options: { trackInitialOpen: true } });
    const [page] = await htmlOf(full);
    expect(page).toMatch(/<body><div style="color:transparent;[^"]*"><img border="0" width="1" height="1" src="[^"]+"\/><\/div>\r\n<p>/);
  });

  test("X-MSYS-API options are applied and the header removed", async () => {
    const { text, summary } = await rewriteFixture("22-", { options: { trackOpen: true, trackClick: false } });
    expect(text).not.toMatch(/X-MSYS-API/i);
    expect(summary.links).toBe(1); // click_tracking: true turned clicks on
    expect(summary.pixels).toBe(0); // open_tracking: false
  });

  test("X-Mtatrack-Options: off turns all tracking off; the header is removed and the id added", async () => {
    const { text, summary, input } = await rewriteFixture("23-");
    expect(summary).toMatchObject({ outcome: "rewritten", links: 0, pixels: 0, partsRewritten: 0 });
    expect(text).toBe(`X-Sp-Message-Id: ${MSG_ID}\r\n` + input.toString("latin1").replace("X-Mtatrack-Options: off\r\n", ""));
  });

  test("an existing X-Sp-Message-Id is reused, whatever its header case", async () => {
    const { text, summary } = await rewriteFixture("24-");
    expect(summary.messageId).toBe("0000ecd8086b5cac6a04");
    expect(text.match(/^x-sp-message-id:/gim)).toHaveLength(1);
  });

  test("a DKIM-signed message is left untouched by default and rewritten with trackSigned", async () => {
    const signed = await rewriteFixture("17-");
    expect(signed.summary).toMatchObject({ outcome: "unchanged", reason: "dkim-signed" });
    expect(signed.bytes.equals(signed.input)).toBe(true);
    const forced = await rewriteFixture("17-", { options: { ...allOn.options, trackSigned: true } });
    expect(forced.summary.outcome).toBe("rewritten");
    expect(forced.text).toContain("DKIM-Signature: v=1;");
  });

  test("AMP parts, HTML attachments and attached messages are left alone", async () => {
    for (const name of ["18-", "08-", "07-"]) {
      const { bytes, input } = await rewriteFixture(name);
      const before = await splitMessage(input);
      const after = await splitMessage(bytes);
      for (let i = 0; i < before.length; i++) {
        const p = before[i]!;
        if (p.kind === "body" && (p.contentType === "text/x-amp-html" || p.disposition === "attachment" || p.contentType === "message/rfc822")) {
          expect(after[i]!.bytes.equals(p.bytes)).toBe(true);
        }
      }
    }
  });

  test("nothing inside multipart/signed is rewritten; the message still gets its id", async () => {
    const { text, summary, input } = await rewriteFixture("39-");
    expect(summary).toMatchObject({ outcome: "rewritten", links: 0, pixels: 0, partsRewritten: 0 });
    expect(text).toBe(`X-Sp-Message-Id: ${MSG_ID}\r\n${input.toString("latin1")}`);
  });

  test("plain-text links are tracked only when asked", async () => {
    const off = await rewriteFixture("30-", { options: { trackClick: true, trackText: false } });
    expect(off.summary.links).toBe(0);
    const on = await rewriteFixture("30-");
    expect(on.summary.links).toBe(2); // the unsubscribe link stays
    expect(on.text).toContain("https://text.example.com/unsubscribe?u=1");
    expect(on.text).toContain("Write to help@example.com"); // bare e-mail addresses are not links
  });

  test("a part re-encoded as UTF-8 says so; a 7bit part with long lines becomes quoted-printable", async () => {
    const utf16 = await rewriteFixture("12-");
    expect(utf16.text).toContain("Content-Type: text/html; charset=utf-8\r\n");
    const jis = await rewriteFixture("13-");
    expect(jis.text).toContain("Content-Transfer-Encoding: quoted-printable\r\n");
    const long = await rewriteFixture("29-");
    expect(long.text).toContain("Content-Transfer-Encoding: quoted-printable\r\n");
  });

  test("base64 is re-encoded in 76-column lines with nothing dropped", async () => {
    const { bytes, input } = await rewriteFixture("03-");
    const part = (await splitMessage(bytes)).find((p) => p.kind === "body" && p.contentType === "text/html")!;
    const lines = part.bytes.toString("latin1").split("\r\n");
    expect(lines.slice(0, -1).every((l) => l.length === 76)).toBe(true);
    expect(decodePart(part).endsWith("</html>\r\n")).toBe(true);
    expect(input.length).toBeGreaterThan(0);
  });

  test("an empty tracking URL passes messages through byte for byte", async () => {
    const { bytes, summary, input } = await rewriteFixture("02-", { trackingUrl: "" });
    expect(summary).toMatchObject({ outcome: "unchanged", reason: "pass-through", messageId: null });
    expect(bytes.equals(input)).toBe(true);
  });

  test("the parse5 engine gives the same bytes as the scanner on the corpus", async () => {
    for (const { bytes } of fixtures) {
      const fast = await rewriteMessageBytes(allOn, bytes, { rcpt: RCPT, messageId: MSG_ID });
      const reference = await rewriteMessageBytes({ ...allOn, settings: { htmlEngine: "parse5" } }, bytes, { rcpt: RCPT, messageId: MSG_ID });
      expect(reference.bytes.equals(fast.bytes)).toBe(true);
    }
  }, 60_000);
});

describe("message rewriter spooling and failures", () => {
  test("a message past the memory bound is spooled to disk, gives the same bytes, and close() removes the files", async () => {
    const big = fixtures.find((f) => f.name.startsWith("32-"))!;
    const dir = mkdtempSync(join(tmpdir(), "mtatrack-test-"));
    const inMemory = await rewriteMessageBytes(allOn, big.bytes, { rcpt: RCPT, messageId: MSG_ID });
    const rewriter = createMessageRewriter({ ...allOn, settings: { spoolMemoryBytes: 4096, spoolDir: dir } });
    const chunks = Array.from({ length: Math.ceil(big.bytes.length / 1000) }, (_, i) => big.bytes.subarray(i * 1000, (i + 1) * 1000));
    const message = await rewriter.rewrite(Readable.from(chunks), { rcpt: RCPT, messageId: MSG_ID });
    expect(readdirSync(dir).length).toBe(1); // the input spool is gone, the output spool remains
    const streamed: Buffer[] = [];
    for await (const c of message.stream()) streamed.push(c as Buffer);
    expect(Buffer.concat(streamed).equals(inMemory.bytes)).toBe(true);
    expect((await message.bytes()).length).toBe(message.size);
    await message.close();
    await message.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  test("rewrite() rejects, and leaves no file behind, when the input stream fails", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mtatrack-test-"));
    const rewriter = createMessageRewriter({ ...allOn, settings: { spoolMemoryBytes: 10, spoolDir: dir } });
    async function* broken() {
      yield Buffer.from("From: a@example.com\r\nSubject: x\r\n\r\nhello world, more than ten bytes");
      throw new Error("client went away");
    }
    await expect(rewriter.rewrite(broken(), { rcpt: null })).rejects.toThrow("client went away");
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });

  test("a part larger than maxPartBytes makes the message fall back unmodified", async () => {
    const big = fixtures.find((f) => f.name.startsWith("32-"))!;
    const { bytes, summary } = await rewriteMessageBytes({ ...allOn, settings: { maxPartBytes: 1000 } }, big.bytes, { rcpt: RCPT });
    expect(summary).toMatchObject({ outcome: "fallback", reason: "part-too-large" });
    expect(bytes.equals(big.bytes)).toBe(true);
  });

  test("rewriteToStream() streams exactly what rewriteMessageBytes() gives, and cleans up its spool", async () => {
    const big = fixtures.find((f) => f.name.startsWith("32-"))!;
    const dir = mkdtempSync(join(tmpdir(), "mtatrack-test-"));
    const expectedBytes = (await rewriteMessageBytes(allOn, big.bytes, { rcpt: RCPT, messageId: MSG_ID })).bytes;
    const rewriter = createMessageRewriter({ ...allOn, settings: { spoolMemoryBytes: 4096, spoolDir: dir } });
    const { output, summary } = rewriteToStream(rewriter, Readable.from([big.bytes]), { rcpt: RCPT, messageId: MSG_ID });
    const chunks: Buffer[] = [];
    for await (const c of output) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(expectedBytes)).toBe(true);
    expect((await summary).outcome).toBe("rewritten");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(readdirSync(dir)).toEqual([]);
  });

  test("rewriteToStream() errors the stream when the input fails", async () => {
    const rewriter = createMessageRewriter(allOn);
    async function* broken() {
      yield Buffer.from("From: a@example.com\r\n");
      throw new Error("client went away");
    }
    const { output, summary } = rewriteToStream(rewriter, broken(), { rcpt: null });
    await expect(summary).rejects.toThrow("client went away");
    await expect((async () => { for await (const _ of output) void _; })()).rejects.toThrow("client went away");
  });

  test("a fallback is logged as a warning with its reason, a DKIM skip as info", async () => {
    const lines: string[] = [];
    const log = {
      debug() {},
      info: (...args: unknown[]) => void lines.push(`info ${args.join(" ")}`),
      warn: (...args: unknown[]) => void lines.push(`warn ${args.join(" ")}`),
      error: (...args: unknown[]) => void lines.push(`error ${args.join(" ")}`),
      withTag() {
        return log;
      },
    } as unknown as NonNullable<MessageRewriterDeps["log"]>;
    await rewriteMessageBytes({ ...allOn, log }, fixtures.find((f) => f.name.startsWith("15-"))!.bytes, { rcpt: RCPT });
    await rewriteMessageBytes({ ...allOn, log }, fixtures.find((f) => f.name.startsWith("17-"))!.bytes, { rcpt: RCPT });
    expect(lines).toEqual([
      "warn Message relayed unmodified (undecodable-part): A base64 part is not valid base64",
      "info Message relayed untouched (dkim-signed): The message carries a DKIM-Signature; rewriting would break it",
    ]);
  });

  test("links past maxLinks are left as they are", async () => {
    const big = fixtures.find((f) => f.name.startsWith("32-"))!;
    const { summary } = await rewriteMessageBytes({ ...allOn, settings: { maxLinks: 5 } }, big.bytes, { rcpt: RCPT });
    expect(summary.links).toBe(5);
    expect(summary.outcome).toBe("rewritten");
  });

  test("metrics receive one summary per message", async () => {
    const seen: RewriteSummary[] = [];
    await rewriteMessageBytes({ ...allOn, metrics: { message: (s) => seen.push(s) } }, fixtures[0]!.bytes, { rcpt: RCPT });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.outcome).toBe("rewritten");
  });

  test("createRewriteMetrics() counts outcomes with their reasons, links and pixels", async () => {
    const registry = new Registry();
    const metrics = createRewriteMetrics(registry);
    for (const name of ["01-", "17-", "15-"]) {
      await rewriteMessageBytes({ ...allOn, metrics }, fixtures.find((f) => f.name.startsWith(name))!.bytes, { rcpt: RCPT });
    }
    const text = await registry.metrics();
    expect(text).toContain('mtatrack_rewriter_messages_total{outcome="rewritten",reason=""} 1');
    expect(text).toContain('mtatrack_rewriter_messages_total{outcome="unchanged",reason="dkim-signed"} 1');
    expect(text).toContain('mtatrack_rewriter_messages_total{outcome="fallback",reason="undecodable-part"} 1');
    expect(text).toContain("mtatrack_rewriter_links_total 1");
    expect(text).toContain("mtatrack_rewriter_pixels_total 1");
  });

  test("the default message id has the original's shape", async () => {
    const { summary } = await rewriteMessageBytes(allOn, fixtures[0]!.bytes, { rcpt: RCPT });
    expect(summary.messageId).toMatch(/^0000[0-9a-f]{16}$/);
  });
});
