/**
 * @module Benchmark of the message rewriter (issue 7). Run: `bun scripts/bench/rewrite.ts [--seconds N] [--memory]`
 *
 * 1. HTML: the same href + pixel rewrite over the corpus's HTML documents by
 *    - mtatrack's scanner engine (the default), mtatrack's parse5 engine (the reference),
 *    - parse5's tokenizer alone (SAX, no rewriting), and
 *    - Bun's built-in HTMLRewriter (lol-html), the practical speed limit, as the same-run baseline.
 *    Each twice: with real v2 link tokens (deflate + HMAC per link) and with a constant URL (tokenizer speed alone).
 * 2. Messages: the whole pipeline (spool, mailsplit, decode, rewrite, re-encode) over the corpus messages.
 * 3. `--memory [--memory-mb N]`: a 50 MB (or N MB) message (small HTML + attachment) through the rewriter, peak RSS sampled.
 * Figures are MB/s of HTML (or message) bytes and ratios to HTMLRewriter in the same run.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Readable } from "node:stream";
import { SAXParser } from "parse5-sax-parser";
import { parseKeyRing } from "../../src/core/key-ring.ts";
import { createLinkCodec } from "../../src/core/link-codec.ts";
import { decideHref } from "../../src/core/href-policy.ts";
import { initialOpenPixel, openPixel, escapeAttribute } from "../../src/core/pixel.ts";
import { nativePrimitives } from "../../src/runtime/codec-primitives.ts";
import { parse5Engine } from "../../src/wrapper/html-reference.ts";
import { decodeAttributeValue, rewriteHtml, type HtmlRewriteContext } from "../../src/wrapper/html-rewriter.ts";
import { createMessageRewriter, scanEngine } from "../../src/wrapper/message-rewriter.ts";
import type { HtmlHandler } from "../../src/wrapper/html-scan.ts";

const argv = process.argv.slice(2);
const seconds = Number(argv[argv.indexOf("--seconds") + 1]) || 2;
const fixtures = fileURLToPath(new URL("../../test/wrapper/fixtures", import.meta.url)); // import.meta.dir is Bun-only
const codec = createLinkCodec({ primitives: nativePrimitives, keys: parseKeyRing(["k1:0123456789abcdef0123456789abcdef"]) });
const PREFIX = "https://t.example.net/";
const policy = { trackingHost: "t.example.net", unsubscribeTargets: new Set<string>() };

const corpusDocs = readdirSync(fixtures)
  .filter((f) => f.endsWith(".html"))
  .map((f) => readFileSync(join(fixtures, f)));
// One large document too, so per-document overhead (HTMLRewriter's set-up, our closures) does not dominate.
const big = readFileSync(join(fixtures, "big-newsletter.html")).toString("latin1");
const bodyStart = big.indexOf("<table");
const bodyEnd = big.lastIndexOf("</table>") + 8;
const largeDoc = Buffer.from(big.slice(0, bodyStart) + big.slice(bodyStart, bodyEnd).repeat(10) + big.slice(bodyEnd), "latin1");

function realClick(target: string, linkName: string | null): string {
  return PREFIX + codec.encode({ action: "click", msgId: "0000aaaabbbbccccdddd", rcpt: "jane@example.net", targetUrl: target, linkName });
}
const cheapClick = (target: string) => `${PREFIX}c/${target.length}`;
const openUrl = PREFIX + codec.encode({ action: "open", msgId: "0000aaaabbbbccccdddd", rcpt: "jane@example.net", targetUrl: null });
const initialUrl = PREFIX + codec.encode({ action: "initial_open", msgId: "0000aaaabbbbccccdddd", rcpt: "jane@example.net", targetUrl: null });

function ctx(engine: HtmlRewriteContext["engine"], clickUrl: HtmlRewriteContext["clickUrl"]): HtmlRewriteContext {
  return { engine, trackClick: true, policy, clickUrl, openUrl, initialOpenUrl: initialUrl, decodeRaw: (raw) => raw };
}

/** Runs `fn` repeatedly for `ms`; returns MB/s of `bytes` per pass. */
function measureOnce(fn: () => void, ms: number, bytes: number): number {
  let passes = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    fn();
    passes++;
    elapsed = performance.now() - start;
  }
  return (bytes * passes) / 1e6 / (elapsed / 1000);
}

const ROUNDS = 15;
const POLICY_ATTRS = ["data-no-track", "data-msys-clicktrack", "clicktracking", "ses:no-track", "data-mautic-disable-tracking", "data-msys-unsubscribe", "data-unsubscribe", "data-link-name", "data-msys-linkname", "rel"];

/** The same job on Bun's HTMLRewriter: decode href, same policy, same URLs, same pixels, opt-out attributes removed. */
function htmlRewriterPass(utf8: string[], clickUrl: (t: string, n: string | null) => string | null): void {
  for (const html of utf8) {
    let sawEnd = false;
    const rewriter = new HTMLRewriter()
      .on("a[href], area[href]", {
        element(el) {
          const attrs = new Map<string, string>();
          for (const name of POLICY_ATTRS) {
            const value = el.getAttribute(name);
            if (value !== null) {
              attrs.set(name, decodeAttributeValue(value));
              if (name !== "data-link-name" && name !== "data-msys-linkname" && name !== "rel") el.removeAttribute(name);
            }
          }
          const decision = decideHref(decodeAttributeValue(el.getAttribute("href") ?? ""), attrs, policy);
          if (decision.track) {
            const url = clickUrl(decision.target, decision.linkName);
            if (url) el.setAttribute("href", url);
          }
        },
      })
      .on("body", {
        element(el) {
          el.prepend(initialOpenPixel(initialUrl), { html: true });
          el.onEndTag((end) => {
            sawEnd = true;
            end.before(openPixel(openUrl), { html: true });
          });
        },
      });
    let out = rewriter.transform(html) as unknown as string;
    if (!sawEnd) out += openPixel(escapeAttribute(openUrl));
  }
}

/** lol-html's own cost: the same selectors matched, handlers that do nothing. */
function htmlRewriterBare(utf8: string[]): void {
  const noop = { element() {} };
  for (const html of utf8) new HTMLRewriter().on("a[href], area[href]", noop).on("body", noop).transform(html);
}

function saxPass(binary: string[]): void {
  for (const html of binary) {
    const parser = new SAXParser({ sourceCodeLocationInfo: true });
    parser.on("startTag", () => {});
    (parser as unknown as { tokenizer: { write(c: string, last: boolean): void } }).tokenizer.write(html, true);
  }
}

const hasHtmlRewriter = typeof (globalThis as { HTMLRewriter?: unknown }).HTMLRewriter === "function";
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Rows are measured in interleaved rounds and the median kept: the machine may be shared, and a burst of
 * other work then hits every row alike instead of one. Ratios are medians of per-round ratios.
 */
function benchHtml(title: string, docs: Buffer[]): void {
  const binary = docs.map((d) => d.toString("latin1"));
  const utf8 = docs.map((d) => d.toString("utf8"));
  const bytes = docs.reduce((n, d) => n + d.length, 0);
  const candidates: [string, () => void][] = [];
  for (const [label, click] of [
    ["real v2 tokens", realClick],
    ["constant URL", cheapClick],
  ] as const) {
    if (hasHtmlRewriter) candidates.push([`HTMLRewriter (lol-html), ${label}`, () => htmlRewriterPass(utf8, click)]);
    candidates.push([`mtatrack scanner, ${label}`, () => binary.forEach((h) => rewriteHtml(h, ctx(scanEngine, click)))]);
    candidates.push([`mtatrack parse5 engine, ${label}`, () => binary.forEach((h) => rewriteHtml(h, ctx(parse5Engine, click)))]);
  }
  candidates.push(["parse5 tokenizer + SAX alone (no rewrite), constant URL", () => saxPass(binary)]);
  if (hasHtmlRewriter) candidates.push(["HTMLRewriter, same selectors, empty handlers, constant URL", () => htmlRewriterBare(utf8)]);
  const wanted: HtmlHandler = { wants: (n) => n === "a" || n === "area" || n === "body", startTag() {}, endTag() {}, comment() {} };
  candidates.push(["mtatrack scanner, same tags, empty handlers, constant URL", () => binary.forEach((h) => scanEngine(h, wanted))]);
  for (const [, fn] of candidates) for (let i = 0; i < 3; i++) fn(); // warm-up
  const samples = new Map<string, number[]>(candidates.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, fn] of candidates) samples.get(name)!.push(measureOnce(fn, (seconds * 1000) / ROUNDS, bytes));
  }
  console.log(`HTML, ${title}: ${docs.length} document(s), ${(bytes / 1024).toFixed(0)} KiB per pass, median of ${ROUNDS} interleaved rounds (${process.versions.bun ? `Bun ${process.versions.bun}` : "no HTMLRewriter here"})`);
  for (const label of ["real v2 tokens", "constant URL"]) {
    const base = samples.get(`HTMLRewriter (lol-html), ${label}`);
    for (const [name] of candidates.filter(([n]) => n.endsWith(label))) {
      const rates = samples.get(name)!;
      const ratio = base ? `  ${(100 * median(rates.map((r, i) => r / base[i]!))).toFixed(0).padStart(4)}% of HTMLRewriter` : "";
      console.log(`  ${name.replace(/, constant URL$|, real v2 tokens$/, "").padEnd(44)} ${label.padEnd(15)} ${median(rates).toFixed(1).padStart(7)} MB/s${ratio}`);
    }
  }
}

benchHtml("the corpus", corpusDocs);
benchHtml("one large newsletter", [largeDoc]);

// ---------------------------------------------------------------- whole messages
const messages = readdirSync(fixtures)
  .filter((f) => f.endsWith(".eml"))
  .map((f) => readFileSync(join(fixtures, f)));
const messageBytes = messages.reduce((n, m) => n + m.length, 0);
const rewriter = createMessageRewriter({
  codec,
  trackingUrl: "https://t.example.net",
  options: { trackOpen: true, trackInitialOpen: true, trackClick: true },
  newMessageId: () => "0000aaaabbbbccccdddd",
});
async function messagePass(): Promise<void> {
  for (const m of messages) {
    const result = await rewriter.rewrite(Readable.from([m]), { rcpt: "jane@example.net" });
    await result.close();
  }
}
for (let i = 0; i < 3; i++) await messagePass();
let passes = 0;
const start = performance.now();
while (performance.now() - start < seconds * 1000) {
  await messagePass();
  passes++;
}
const elapsed = (performance.now() - start) / 1000;
console.log(
  `Messages: ${messages.length} corpus messages, ${(messageBytes / 1024).toFixed(0)} KiB per pass: ` +
    `${((messageBytes * passes) / 1e6 / elapsed).toFixed(1)} MB/s, ${((messages.length * passes) / elapsed).toFixed(0)} messages/s`,
);

// ---------------------------------------------------------------- memory
if (argv.includes("--memory")) {
  const html = Buffer.from(`<html><body><a href="https://a.example.com/">x</a></body></html>\r\n`);
  const head = Buffer.from(
    "From: a@example.com\r\nTo: b@example.net\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" +
      `--B\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${html}\r\n--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n`,
  );
  // generated on the fly, so the input is never held whole by the benchmark either
  const line = Buffer.from(`${Buffer.alloc(57, 7).toString("base64")}\r\n`);
  const block = Buffer.concat(Array.from({ length: 1024 }, () => line)); // 78 KiB of base64 lines
  const megabytes = Number(argv[argv.indexOf("--memory-mb") + 1]) || 50;
  const blocks = Math.ceil((megabytes * 1e6) / block.length);
  const total = head.length + blocks * block.length + 9;
  async function* generate() {
    yield head;
    for (let i = 0; i < blocks; i++) yield Buffer.from(block);
    yield Buffer.from("\r\n--B--\r\n".slice(2));
  }
  (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true);
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const t0 = performance.now();
  const result = await rewriter.rewrite(generate(), { rcpt: "b@example.net" });
  let out = 0;
  for await (const c of result.stream()) out += (c as Buffer).length;
  await result.close();
  clearInterval(timer);
  console.log(
    `Memory: ${(total / 1e6).toFixed(1)} MB message (${result.summary.outcome}, ${out} bytes out) in ${((performance.now() - t0) / 1000).toFixed(2)} s; ` +
      `RSS ${(before / 1e6).toFixed(0)} MB before, peak ${(peak / 1e6).toFixed(0)} MB (+${((peak - before) / 1e6).toFixed(0)} MB)`,
  );
}
