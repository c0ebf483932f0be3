/**
 * Property test: random MIME trees (nested multiparts, every transfer encoding, legacy and bogus charsets,
 * corrupted bodies, broken and missing boundaries, control headers, DKIM, LF-only, truncation) never make
 * the rewriter throw, and always give either the unmodified input or a rewrite whose every non-rewritten
 * piece is byte-identical to the input's, with every tracked link decoding.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import * as libqp from "libqp";
import { parseKeyRing } from "../../src/core/key-ring.ts";
import { createLinkCodec } from "../../src/core/link-codec.ts";
import { nativePrimitives } from "../../src/runtime/codec-primitives.ts";
import { rewriteMessageBytes, type MessageRewriterDeps } from "../../src/wrapper/message-rewriter.ts";
import { decodePart, splitMessage } from "./_mime.ts";

const codec = createLinkCodec({ primitives: nativePrimitives, keys: parseKeyRing(["k1:0123456789abcdef0123456789abcdef"]) });
const deps: MessageRewriterDeps = {
  codec,
  trackingUrl: "https://t.example.net",
  options: { trackOpen: true, trackInitialOpen: true, trackClick: true, trackText: true },
};

const htmlTokens = [
  '<a href="https://x.example/p?a=1&amp;b=2">', "<A HREF=https://y.example/>", "<a href='mailto:m@x'>", "</a>", "<body>", "</body>",
  "<!--", "-->", "<!--[if mso]><v:roundrect href=\"https://v.example/\"><![endif]-->", "<script>", "</script>", "<style>", "</style>",
  "<svg>", "</svg>", "<p>", "text ", "é", "ü", "\u3042", "&amp;", "<", ">", "\"", "=", "\r\n", "\n", " data-no-track ", "https://text.example/x ",
];
const bodyText = fc.oneof(
  fc.array(fc.constantFrom(...htmlTokens), { maxLength: 25 }).map((t) => t.join("")),
  fc.string({ maxLength: 40 }),
  fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString("latin1")),
);

interface Leaf {
  type: string;
  disposition: string | null;
  cte: string | null;
  charset: string | null;
  body: string;
  corrupt: boolean;
}
interface Multi {
  subtype: string;
  boundary: string;
  children: Tree[];
  preamble: string;
  epilogue: string;
  closing: boolean;
  declaredBoundary: boolean;
}
type Tree = { leaf: Leaf } | { multi: Multi };

const leafArb: fc.Arbitrary<Tree> = fc.record({
  type: fc.constantFrom("text/html", "text/html", "text/plain", "text/x-amp-html", "image/png", "application/pdf", "message/rfc822"),
  disposition: fc.constantFrom(null, null, "inline", "attachment"),
  cte: fc.constantFrom(null, "7bit", "8bit", "base64", "quoted-printable", "Base64", "binary", "x-unknown"),
  charset: fc.constantFrom(null, "utf-8", "UTF-8", "iso-8859-1", "us-ascii", "shift_jis", "utf-16le", "koi8-r", "x-bogus"),
  body: bodyText,
  corrupt: fc.boolean(),
}).map((leaf) => ({ leaf }));

const boundaryArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9'()+_,\-./:=?]{1,30}$/),
  fc.constantFrom("b", "=_Part_0_123.456", "Apple-Mail=_5C3F", "with space", "----=_NextPart_000_0000"),
);

const treeArb: fc.Arbitrary<Tree> = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leafArb,
    fc
      .record({
        subtype: fc.constantFrom("mixed", "alternative", "related"),
        boundary: boundaryArb,
        children: fc.array(tie("tree"), { maxLength: 3 }),
        preamble: fc.constantFrom("", "This is a multi-part message in MIME format.\r\n"),
        epilogue: fc.constantFrom("", "epilogue\r\n"),
        closing: fc.boolean(),
        declaredBoundary: fc.boolean(),
      })
      .map((multi) => ({ multi })),
  ),
})).tree;

function encodeBody(leaf: Leaf): string {
  let bytes: Buffer;
  if (leaf.charset === "utf-16le") bytes = Buffer.from(leaf.body, "utf16le");
  else if (leaf.charset && /8859|koi8|shift/i.test(leaf.charset)) bytes = Buffer.from(leaf.body, "latin1");
  else bytes = Buffer.from(leaf.body, "utf8");
  let text: string;
  const cte = (leaf.cte ?? "").toLowerCase();
  if (cte === "base64") text = (bytes.toString("base64").match(/.{1,76}/g) ?? []).join("\r\n");
  else if (cte === "quoted-printable") text = libqp.wrap(libqp.encode(bytes), 76);
  else text = bytes.toString("latin1");
  if (leaf.corrupt) text = text.slice(0, Math.floor(text.length / 2)) + "=Z!*" + text.slice(Math.floor(text.length / 2));
  return text;
}

function render(tree: Tree, headers: string[]): string {
  if ("leaf" in tree) {
    const { leaf } = tree;
    const lines = [...headers, `Content-Type: ${leaf.type}${leaf.charset ? `; charset=${leaf.charset}` : ""}`];
    if (leaf.disposition) lines.push(`Content-Disposition: ${leaf.disposition}`);
    if (leaf.cte) lines.push(`Content-Transfer-Encoding: ${leaf.cte}`);
    return `${lines.join("\r\n")}\r\n\r\n${encodeBody(leaf)}`;
  }
  const m = tree.multi;
  const ct = `Content-Type: multipart/${m.subtype}${m.declaredBoundary ? `; boundary="${m.boundary}"` : ""}`;
  let out = `${[...headers, ct].join("\r\n")}\r\n\r\n${m.preamble}`;
  for (const child of m.children) out += `--${m.boundary}\r\n${render(child, [])}\r\n`;
  if (m.closing) out += `--${m.boundary}--\r\n${m.epilogue}`;
  return out;
}

const headerArb = fc.record({
  msgId: fc.constantFrom(null, "0000ecd8086b5cac6a04", "weird id"),
  controls: fc.constantFrom(null, "off", "click=off", "open=on, initial_open=off", "bogus=1", "text=yes;click=yes"),
  msys: fc.constantFrom(null, '{"options":{"open_tracking":false}}', '{"options":{"click_tracking":true}}', "{not json"),
  dkim: fc.boolean(),
  eightBit: fc.boolean(),
  folded: fc.boolean(),
});

const messageArb = fc
  .record({ tree: treeArb, headers: headerArb, lfOnly: fc.boolean(), truncateAt: fc.option(fc.nat(), { freq: 5 }) })
  .map(({ tree, headers, lfOnly, truncateAt }) => {
    const top = ["From: sender@example.com", "To: rcpt@example.net", "MIME-Version: 1.0"];
    if (headers.msgId) top.push(`X-Sp-Message-Id: ${headers.msgId}`);
    if (headers.controls) top.push(`X-Mtatrack-Options: ${headers.controls}`);
    if (headers.msys) top.push(`X-MSYS-API: ${headers.msys}`);
    if (headers.dkim) top.push("DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s1; b=abc");
    if (headers.eightBit) top.push("Subject: Grüße – ☃");
    if (headers.folded) top.push("X-Folded: first line\r\n\tsecond line");
    let text = render(tree, top);
    if (lfOnly) text = text.replace(/\r\n/g, "\n");
    let bytes = Buffer.from(text, "utf8");
    if (truncateAt !== null) bytes = bytes.subarray(0, truncateAt % (bytes.length + 1));
    return bytes;
  });

describe("message rewriter on random MIME trees", () => {
  test("20,000 random messages: never throws, output is the input or a faithful rewrite", async () => {
    await fc.assert(
      fc.asyncProperty(messageArb, async (input) => {
        const { bytes: out, summary } = await rewriteMessageBytes(deps, input, { rcpt: "rcpt@example.net", messageId: "0000aaaabbbbccccdddd" });
        expect(["rewritten", "unchanged", "fallback"]).toContain(summary.outcome);
        if (summary.outcome !== "rewritten") {
          expect(out.equals(input)).toBe(true);
          return;
        }
        const before = await splitMessage(input);
        const after = await splitMessage(out);
        expect(after.length).toBe(before.length);
        for (let i = 0; i < before.length; i++) {
          const a = before[i]!;
          const b = after[i]!;
          expect(b.kind).toBe(a.kind);
          const candidate = a.disposition !== "attachment" && (a.contentType === "text/html" || a.contentType === "text/plain");
          if (a.root || candidate) continue; // root headers and rewritten parts are checked by the golden tests
          const prev = before[i - 1];
          if (a.kind === "data" && prev?.kind === "body" && prev.disposition !== "attachment" && /^text\/(html|plain)$/.test(prev.contentType)) {
            // mailsplit counts the line break in front of a delimiter to the body when the body is only that
            // break; a pixel appended there moves it: compare the delimiter itself
            const strip = (x: Buffer) => x.toString("latin1").replace(/^\r?\n/, "");
            expect(strip(b.bytes)).toBe(strip(a.bytes));
            continue;
          }
          expect(b.bytes.equals(a.bytes)).toBe(true);
        }
        const decoded = after.filter((p) => p.kind === "body").map(decodePart).join("\n");
        for (const url of decoded.match(/https:\/\/t\.example\.net\/2\.[A-Za-z0-9_.-]*[A-Za-z0-9_-]/g) ?? []) {
          expect(codec.decode(url.slice("https://t.example.net/".length), { now: Date.now() }).ok).toBe(true);
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS) || 20_000 },
    );
  }, 600_000);
});
