/**
 * @module The reference HTML engine: parse5's tokenizer driven by parse5-sax-parser's parser-feedback
 * simulator, reporting the same events as the fast scanner (`html-scan.ts`) from parse5's source
 * locations. Slower; used as the oracle of the differential tests and selectable with `htmlEngine: "parse5"`.
 */
import { SAXParser, type EndTag, type StartTag, type Comment } from "parse5-sax-parser";
import type { Token } from "parse5";
import type { HtmlHandler, TagAttr } from "./html-scan.ts";

interface SyncTokenizer {
  write(chunk: string, isLastChunk: boolean): void;
}

function isWs(c: number): boolean {
  return c === 32 || c === 10 || c === 9 || c === 12 || c === 13;
}

/** Re-reads an attribute's value span and quote from its raw source `name[ws]=[ws]value`. */
function attrFromSource(name: string, html: string, start: number, end: number): TagAttr {
  let k = start + 1; // the first character always belongs to the name, even "="
  while (k < end && !isWs(html.charCodeAt(k)) && html.charCodeAt(k) !== 61) k++;
  while (k < end && isWs(html.charCodeAt(k))) k++;
  if (k >= end || html.charCodeAt(k) !== 61) {
    // parse5 ends a "name=" whose value is missing (`<a b=>`) at the name; the scanner's span covers the "="
    let m = end;
    while (isWs(html.charCodeAt(m))) m++;
    if (html.charCodeAt(m) === 61) {
      m++;
      while (isWs(html.charCodeAt(m))) m++;
      if (html.charCodeAt(m) === 62) return { name, start, end: m, valueStart: m, valueEnd: m, quote: 0 };
    }
    return { name, start, end, valueStart: end, valueEnd: end, quote: -1 };
  }
  k++;
  while (k < end && isWs(html.charCodeAt(k))) k++;
  const q = html.charCodeAt(k);
  if (k < end && (q === 34 || q === 39)) return { name, start, end, valueStart: k + 1, valueEnd: end - 1, quote: q };
  return { name, start, end, valueStart: k, valueEnd: end, quote: 0 };
}

/**
 * The parse5 engine. Same contract as the scanner: events in source order, offsets into `html`.
 * @example parse5Engine('<a href="x">', handler) // handler.startTag("a", 0, 12, [{ name: "href", … }])
 */
export function parse5Engine(html: string, handler: HtmlHandler): void {
  const parser = new SAXParser({ sourceCodeLocationInfo: true });
  parser.on("startTag", (token: StartTag) => {
    const loc = token.sourceCodeLocation;
    if (!loc) return;
    // location keys are the names as tokenized (before SVG/MathML adjustments), in source order
    const name = rawTagName(html, loc.startOffset + 1);
    if (!handler.wants(name)) return;
    const attrs: TagAttr[] = [];
    const located = (loc as Token.ElementLocation).attrs ?? {};
    for (const [attrName, attrLoc] of Object.entries(located)) {
      attrs.push(attrFromSource(attrName, html, attrLoc.startOffset, attrLoc.endOffset));
    }
    handler.startTag(name, loc.startOffset, Math.min(loc.endOffset, html.length), attrs);
  });
  parser.on("endTag", (token: EndTag) => {
    const loc = token.sourceCodeLocation;
    if (loc) handler.endTag(rawTagName(html, loc.startOffset + 2), loc.startOffset, Math.min(loc.endOffset, html.length));
  });
  parser.on("comment", (token: Comment) => {
    const loc = token.sourceCodeLocation;
    if (loc) handler.comment(loc.startOffset, Math.min(loc.endOffset, html.length)); // parse5 reports EOF one past the end
  });
  // The stream interface runs the tokenizer on later ticks; the tokenizer itself is synchronous.
  (parser as unknown as { tokenizer: SyncTokenizer }).tokenizer.write(html, true);
}

/** The tag name as tokenized (ASCII lower-case, NUL as U+FFFD), read from the source. */
function rawTagName(html: string, from: number): string {
  let k = from;
  while (k < html.length) {
    const c = html.charCodeAt(k);
    if (isWs(c) || c === 47 || c === 62) break;
    k++;
  }
  return html.slice(from, k).replace(/[A-Z\u0000]/g, (ch) => (ch === "\u0000" ? "\uFFFD" : ch.toLowerCase()));
}

