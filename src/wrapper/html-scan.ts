/**
 * @module The fast HTML tokenizer of the rewriter: a specialised scanner that finds exactly the tokens
 * parse5's SAX parser (tokenizer + parser-feedback simulator) finds — start tags with attribute source
 * spans, end tags and comments — without building tokens for text. It jumps from `<` to `<` with
 * `indexOf`, parses tags with the HTML5 tokenizer's attribute states, and follows the tokenizer mode
 * switches (RCDATA, RAWTEXT, script data with its escape states, PLAINTEXT) and the SVG/MathML namespace
 * stack exactly as parse5-sax-parser does. Equivalence with parse5 is proven by test/wrapper/html-differential.test.ts
 * on the corpus and on fuzzed input; `html-reference.ts` is the parse5 engine with the same interface.
 *
 * It reports offsets into the input string; text, doctype and unknown tags are skipped, not copied.
 */

/** One attribute of a start tag, as source offsets. `quote` is 34 (`"`), 39 (`'`), 0 (unquoted) or -1 (no value). */
export interface TagAttr {
  /** Lower-case name, NUL replaced by U+FFFD, as the tokenizer gives it. */
  name: string;
  /** Offset of the first character of the name. */
  start: number;
  /** Offset just past the attribute (past the closing quote, the unquoted value, or the name). */
  end: number;
  /** Value span without quotes; equal to `end` when there is no value. */
  valueStart: number;
  valueEnd: number;
  quote: number;
}

/** What a tokenizer engine reports. Offsets are into the string given to the engine. */
export interface HtmlHandler {
  /** Which start tags the handler wants with attributes (called with the lower-case tag name). */
  wants(name: string): boolean;
  /** A start tag the handler wants; `end` is just past its `>`. */
  startTag(name: string, start: number, end: number, attrs: readonly TagAttr[]): void;
  /** Every end tag; `end` is just past its `>`. */
  endTag(name: string, start: number, end: number): void;
  /** Every comment (including bogus comments); {@link commentData} gives its data span. */
  comment(start: number, end: number): void;
}

/** An engine: tokenizes `html` from the data state, in the HTML namespace, reporting to `handler`. */
export type HtmlEngine = (html: string, handler: HtmlHandler) => void;

/**
 * The data span of a comment token reported as [start, end): without `<!--` and `-->`/`--!>`, or without
 * `<!`, `</` (`<?` keeps its `?`) and `>` for bogus comments; a comment cut by the end of input runs to it.
 */
export function commentData(html: string, start: number, end: number): [number, number] {
  if (html.startsWith("<!--", start)) {
    const ds = start + 4;
    if (end - start === 5 && html.charCodeAt(ds) === GT) return [ds, ds];
    if (end - start === 6 && html.startsWith("->", ds)) return [ds, ds];
    if (end - 4 >= ds && html.startsWith("--!>", end - 4)) return [ds, end - 4];
    if (end - 3 >= ds && html.startsWith("-->", end - 3)) return [ds, end - 3];
    return [ds, end];
  }
  const ds = html.charCodeAt(start + 1) === QMARK ? start + 1 : start + 2;
  return [ds, end > ds && html.charCodeAt(end - 1) === GT ? end - 1 : end];
}

const enum Ns {
  Html = 0,
  Svg = 1,
  MathMl = 2,
}

const LT = 60;
const GT = 62;
const SLASH = 47;
const BANG = 33;
const QMARK = 63;
const DASH = 45;
const EQ = 61;
const DQ = 34;
const SQ = 39;

function isWs(c: number): boolean {
  return c === 32 || c === 10 || c === 9 || c === 12 || c === 13;
}
function isAlpha(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

const RCDATA = new Set(["title", "textarea"]);
const RAWTEXT = new Set(["style", "iframe", "xmp", "noembed", "noframes", "noscript"]);
const EXITS_FOREIGN = new Set([
  "b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt", "em", "embed",
  "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li", "listing", "menu", "meta", "nobr",
  "ol", "p", "pre", "ruby", "s", "small", "span", "strong", "strike", "sub", "sup", "table", "tt", "u", "ul", "var",
]);
const MATHML_TEXT_POINTS = new Set(["mi", "mo", "mn", "ms", "mtext"]);

/** Text mode the tokenizer is in after a start tag. */
const enum Mode {
  Data = 0,
  RcData = 1,
  RawText = 2,
  Script = 3,
  PlainText = 4,
}

/** A parsed tag: where it ends and its attributes (only collected when asked). */
interface Parsed {
  end: number; // -1 = EOF inside the tag (the tokenizer drops it and stops)
  selfClosing: boolean;
}

/**
 * Decodes an attribute value the way the tokenizer does, given a decoder for character references.
 * Kept here so the scanner's namespace logic (annotation-xml `encoding`) sees decoded values too.
 */
export type AttrDecoder = (raw: string) => string;

/**
 * Creates the scanner engine. `decodeAttr` turns a raw attribute value into its tokenized value
 * (character references, CR/LF and NUL as parse5 does); it is only needed for MathML `annotation-xml`.
 */
export function createScanner(decodeAttr: AttrDecoder): HtmlEngine {
  return function scanHtml(html: string, handler: HtmlHandler): void {
    const len = html.length;
    const nsStack: Ns[] = [Ns.Html];
    let attrs: TagAttr[] = [];
    let attrNames: Set<string> | null = null;
    let collect = false;
    const parsed: Parsed = { end: -1, selfClosing: false };

    /** Parses attributes from `k` (just after the tag name) per the tokenizer's attribute states. */
    function parseAttrs(k: number): void {
      parsed.selfClosing = false;
      for (;;) {
        // before attribute name
        let c = html.charCodeAt(k);
        while (isWs(c)) c = html.charCodeAt(++k);
        if (k >= len) return void (parsed.end = -1);
        if (c === GT) return void (parsed.end = k + 1);
        if (c === SLASH) {
          // self-closing start tag state
          if (k + 1 >= len) return void (parsed.end = -1);
          if (html.charCodeAt(k + 1) === GT) {
            parsed.selfClosing = true;
            return void (parsed.end = k + 2);
          }
          k++;
          continue;
        }
        // attribute name (a leading "=" is part of it)
        const nameStart = k;
        k++;
        c = html.charCodeAt(k);
        while (k < len && !isWs(c) && c !== SLASH && c !== GT && c !== EQ) c = html.charCodeAt(++k);
        const nameEnd = k;
        if (k >= len) return void (parsed.end = -1);
        // after attribute name
        while (isWs(c)) c = html.charCodeAt(++k);
        if (k >= len) return void (parsed.end = -1);
        if (c !== EQ) {
          if (collect) addAttr(nameStart, nameEnd, nameEnd, nameEnd, -1);
          if (c === GT) return void (parsed.end = k + 1);
          continue; // "/" → self-closing state; anything else starts the next attribute
        }
        // before attribute value
        c = html.charCodeAt(++k);
        while (isWs(c)) c = html.charCodeAt(++k);
        if (k >= len) return void (parsed.end = -1);
        if (c === DQ || c === SQ) {
          const close = html.indexOf(c === DQ ? '"' : "'", k + 1);
          if (close < 0) return void (parsed.end = -1);
          if (collect) addAttr(nameStart, nameEnd, k + 1, close, c);
          k = close + 1;
          // after attribute value (quoted)
          c = html.charCodeAt(k);
          if (k >= len) return void (parsed.end = -1);
          if (c === GT) return void (parsed.end = k + 1);
          // whitespace, "/" and anything else all continue in before-attribute-name
          continue;
        }
        if (c === GT) {
          if (collect) addAttr(nameStart, nameEnd, k, k, 0);
          return void (parsed.end = k + 1);
        }
        const valueStart = k;
        while (k < len && !isWs(c) && c !== GT) c = html.charCodeAt(++k);
        if (k >= len) return void (parsed.end = -1);
        if (collect) addAttr(nameStart, nameEnd, valueStart, k, 0);
        if (c === GT) return void (parsed.end = k + 1);
      }
    }

    function addAttr(nameStart: number, nameEnd: number, valueStart: number, valueEnd: number, quote: number): void {
      const name = tagName(nameStart, nameEnd, isPlain(nameStart, nameEnd));
      // duplicates are dropped, the first one wins; a set once a tag has many, so a tag with 100,000
      // attributes is not quadratic
      if (attrs.length < 16) {
        for (const a of attrs) if (a.name === name) return;
      } else {
        attrNames ??= new Set(attrs.map((a) => a.name));
        if (attrNames.has(name)) return;
        attrNames.add(name);
      }
      attrs.push({ name, start: nameStart, end: quote === DQ || quote === SQ ? valueEnd + 1 : valueEnd, valueStart, valueEnd, quote });
    }

    /** The tokenizer's name for source [start, end); `plain` = the caller saw no A-Z, NUL or CR in it. */
    function tagName(start: number, end: number, plain: boolean): string {
      const raw = html.slice(start, end);
      if (plain) return raw;
      // ASCII lower-casing only; NUL → U+FFFD; CR is LF after the input stream preprocessor
      return raw.replace(/[A-Z\u0000\r]/g, (ch) => (ch === "\u0000" ? "\uFFFD" : ch === "\r" ? "\n" : ch.toLowerCase()));
    }

    function isPlain(start: number, end: number): boolean {
      for (let i = start; i < end; i++) {
        const c = html.charCodeAt(i);
        if ((c >= 65 && c <= 90) || c === 0 || c === 13) return false;
      }
      return true;
    }

    function attrValue(name: string): string | undefined {
      for (const a of attrs) if (a.name === name) return a.quote === -1 ? "" : decodeAttr(html.slice(a.valueStart, a.valueEnd));
      return undefined;
    }

    /** Parses a tag whose name starts at `nameStart`; returns the name (or null at EOF). */
    function readTag(nameStart: number, wantAttrs: (name: string) => boolean): string | null {
      let k = nameStart;
      let c = html.charCodeAt(k);
      let plain = true;
      while (k < len && !isWs(c) && c !== SLASH && c !== GT) {
        if ((c >= 65 && c <= 90) || c === 0) plain = false;
        c = html.charCodeAt(++k);
      }
      if (k >= len) {
        parsed.end = -1;
        return null;
      }
      const name = tagName(nameStart, k, plain);
      attrs = [];
      attrNames = null;
      collect = wantAttrs(name);
      parseAttrs(k);
      return parsed.end < 0 ? null : name;
    }

    const wantsForStart = (name: string): boolean =>
      handler.wants(name) || name === "font" || name === "annotation-xml";
    const wantsForEnd = (name: string): boolean => name === "annotation-xml";

    /** The parser-feedback simulator's start-tag logic; returns the tokenizer mode to switch to. */
    function onStartTag(name: string, start: number, end: number, selfClosing: boolean): Mode {
      if (name === "svg") nsStack.unshift(Ns.Svg);
      else if (name === "math") nsStack.unshift(Ns.MathMl);
      let mode = Mode.Data;
      const ns = nsStack[0]!;
      if (ns !== Ns.Html) {
        const exits =
          EXITS_FOREIGN.has(name) || (name === "font" && attrs.some((a) => a.name === "color" || a.name === "size" || a.name === "face"));
        if (exits) nsStack.shift();
        else if (!selfClosing && isIntegrationPoint(name, ns)) nsStack.unshift(Ns.Html);
      } else {
        if (RCDATA.has(name)) mode = Mode.RcData;
        else if (RAWTEXT.has(name)) mode = Mode.RawText;
        else if (name === "script") mode = Mode.Script;
        else if (name === "plaintext") mode = Mode.PlainText;
      }
      if (handler.wants(name)) handler.startTag(name, start, end, attrs);
      return mode;
    }

    function isIntegrationPoint(name: string, ns: Ns | undefined): boolean {
      if (ns === Ns.MathMl) {
        if (MATHML_TEXT_POINTS.has(name)) return true;
        if (name === "annotation-xml") {
          const encoding = attrValue("encoding")?.toLowerCase();
          return encoding === "text/html" || encoding === "application/xhtml+xml";
        }
        return false;
      }
      return ns === Ns.Svg && (name === "foreignobject" || name === "desc" || name === "title");
    }

    function onEndTag(name: string, start: number, end: number): void {
      const ns = nsStack[0]!;
      if (ns === Ns.Html) {
        if (isIntegrationPoint(name, nsStack[1])) nsStack.shift();
      } else if ((name === "svg" && ns === Ns.Svg) || (name === "math" && ns === Ns.MathMl)) {
        nsStack.shift();
      }
      handler.endTag(name, start, end);
    }

    /** Finds the end of a raw-text element (RCDATA/RAWTEXT): the offset of its `</name` end tag, or -1. */
    function findRawEnd(from: number, name: string): number {
      const n = name.length;
      for (let p = html.indexOf("</", from); p >= 0; p = html.indexOf("</", p + 2)) {
        if (appropriateEnd(p, name, n)) return p;
      }
      return -1;
    }

    function appropriateEnd(p: number, name: string, n: number): boolean {
      // "</" + ASCII letters equal to the element's name (case-insensitively) + whitespace, "/" or ">"
      for (let i = 0; i < n; i++) {
        const c = html.charCodeAt(p + 2 + i);
        if (!isAlpha(c) || (c | 0x20) !== name.charCodeAt(i)) return false;
      }
      const after = html.charCodeAt(p + 2 + n);
      return isWs(after) || after === SLASH || after === GT;
    }

    /** Script data with its escape states; returns the offset of the `</script` that ends it, or -1. */
    function findScriptEnd(from: number): number {
      const enum S {
        Data,
        Escaped,
        EscapedDash,
        EscapedDashDash,
        DoubleEscaped,
        DoubleEscapedDash,
        DoubleEscapedDashDash,
      }
      let s = S.Data;
      let p = from;
      while (p < len) {
        const c = html.charCodeAt(p);
        switch (s) {
          case S.Data:
            if (c === LT) {
              const n = html.charCodeAt(p + 1);
              if (n === SLASH && appropriateEnd(p, "script", 6)) return p;
              if (n === BANG && html.charCodeAt(p + 2) === DASH && html.charCodeAt(p + 3) === DASH) {
                s = S.EscapedDashDash;
                p += 4;
                continue;
              }
            }
            p++;
            continue;
          case S.Escaped:
          case S.EscapedDash:
          case S.EscapedDashDash:
            if (c === DASH) {
              s = s === S.Escaped ? S.EscapedDash : S.EscapedDashDash;
              p++;
              continue;
            }
            if (c === GT && s === S.EscapedDashDash) {
              s = S.Data;
              p++;
              continue;
            }
            if (c === LT) {
              const n = html.charCodeAt(p + 1);
              if (n === SLASH && appropriateEnd(p, "script", 6)) return p;
              if (isAlpha(n)) {
                // script data double escape start: letters, then whitespace, "/" or ">"
                let q = p + 1;
                while (q < len && isAlpha(html.charCodeAt(q))) q++;
                const t = html.charCodeAt(q);
                const word = html.slice(p + 1, q).toLowerCase();
                if ((isWs(t) || t === SLASH || t === GT) && word === "script") {
                  s = S.DoubleEscaped;
                  p = q + 1;
                  continue;
                }
                s = S.Escaped;
                p = q;
                continue;
              }
            }
            s = S.Escaped;
            p++;
            continue;
          default:
            // double escaped states
            if (c === DASH) {
              s = s === S.DoubleEscaped ? S.DoubleEscapedDash : S.DoubleEscapedDashDash;
              p++;
              continue;
            }
            if (c === GT && s === S.DoubleEscapedDashDash) {
              s = S.Data;
              p++;
              continue;
            }
            if (c === LT) {
              s = S.DoubleEscaped;
              if (html.charCodeAt(p + 1) === SLASH) {
                let q = p + 2;
                while (q < len && isAlpha(html.charCodeAt(q))) q++;
                const t = html.charCodeAt(q);
                const word = html.slice(p + 2, q).toLowerCase();
                if ((isWs(t) || t === SLASH || t === GT) && word === "script") {
                  s = S.Escaped;
                  p = q + 1;
                  continue;
                }
                p = q;
                continue;
              }
              p++;
              continue;
            }
            s = S.DoubleEscaped;
            p++;
            continue;
        }
      }
      return -1;
    }

    /** Emits a comment ending at the first ">" (bogus comment). Returns the position after it. */
    function bogusComment(start: number, dataStart: number): number {
      const gt = html.indexOf(">", dataStart);
      if (gt < 0) {
        handler.comment(start, len);
        return len;
      }
      handler.comment(start, gt + 1);
      return gt + 1;
    }

    let nextBangClose = -2; // offset of the next "--!>" at or after the last comment start; -1 = none left
    let pos = 0;
    let mode: Mode = Mode.Data;
    let rawName = "";
    for (;;) {
      if (mode !== Mode.Data) {
        if (mode === Mode.PlainText) return;
        const endAt = mode === Mode.Script ? findScriptEnd(pos) : findRawEnd(pos, rawName);
        if (endAt < 0) return;
        // the appropriate end tag: parsed as an ordinary end tag
        const name = readTag(endAt + 2, wantsForEnd);
        if (name === null) return;
        onEndTag(name, endAt, parsed.end);
        pos = parsed.end;
        mode = Mode.Data;
        continue;
      }
      const lt = html.indexOf("<", pos);
      if (lt < 0) return;
      const c = html.charCodeAt(lt + 1);
      if (isAlpha(c)) {
        const name = readTag(lt + 1, wantsForStart);
        if (name === null) return;
        const end = parsed.end;
        mode = onStartTag(name, lt, end, parsed.selfClosing);
        rawName = name;
        pos = end;
      } else if (c === SLASH) {
        const c2 = html.charCodeAt(lt + 2);
        if (isAlpha(c2)) {
          const name = readTag(lt + 2, wantsForEnd);
          if (name === null) return;
          onEndTag(name, lt, parsed.end);
          pos = parsed.end;
        } else if (c2 === GT) {
          pos = lt + 3; // "</>" is dropped
        } else if (lt + 2 >= len) {
          return;
        } else {
          pos = bogusComment(lt, lt + 2);
        }
      } else if (c === BANG) {
        const p = lt + 2;
        if (html.charCodeAt(p) === DASH && html.charCodeAt(p + 1) === DASH) {
          pos = comment(lt, p + 2);
        } else if (html.slice(p, p + 7).toLowerCase() === "doctype") {
          const gt = html.indexOf(">", p);
          if (gt < 0) return;
          pos = gt + 1;
        } else if (nsStack[0] !== Ns.Html && html.startsWith("[CDATA[", p)) {
          const close = html.indexOf("]]>", p + 7);
          if (close < 0) return;
          pos = close + 3;
        } else {
          pos = bogusComment(lt, p);
        }
      } else if (c === QMARK) {
        pos = bogusComment(lt, lt + 1);
      } else {
        pos = lt + 1;
      }
    }

    /** A `<!--` comment whose data starts at `p`; returns the position after it. */
    function comment(start: number, p: number): number {
      const c = html.charCodeAt(p);
      if (c === GT) {
        handler.comment(start, p + 1);
        return p + 1;
      }
      if (c === DASH && html.charCodeAt(p + 1) === GT) {
        handler.comment(start, p + 2);
        return p + 2;
      }
      const a = html.indexOf("-->", p);
      // "--!>" is rare: remember where the next one is, or that there is none, instead of searching to the
      // end of the input once per comment (quadratic on a document of many comments)
      if (nextBangClose !== -1 && nextBangClose < p) nextBangClose = html.indexOf("--!>", p);
      const b = nextBangClose;
      let close = a < 0 ? b : b < 0 ? a : Math.min(a, b);
      if (close < 0) {
        handler.comment(start, len);
        return len;
      }
      const end = close === b && (a < 0 || b < a) ? close + 4 : close + 3;
      handler.comment(start, end);
      return end;
    }
  };
}
