/**
 * @module Rewrites one HTML document (a whole decoded part) touching only the bytes that change:
 * the value of tracked `href`s, removed opt-out attributes, and the inserted pixels. Everything else is
 * copied from the input by offset. The tokenizer is pluggable (`html-scan.ts` fast scanner, or parse5 as
 * the reference), so both engines share this one editor and the differential test compares outputs.
 *
 * The input is usually a "binary string" (one char per byte, latin1) of an ASCII-compatible charset: every
 * byte outside tags passes through untouched whatever the charset, and only href values are charset-decoded.
 */
import { decodeHTMLAttribute } from "entities/decode";
import { CONTROL_ATTRIBUTES, decideHref, type HrefDecision, type HrefPolicyContext, type SkipReason } from "../core/href-policy.ts";
import { escapeAttribute, initialOpenPixel, openPixel } from "../core/pixel.ts";
import { commentData, type HtmlEngine, type HtmlHandler, type TagAttr } from "./html-scan.ts";

/** What one rewrite needs. */
export interface HtmlRewriteContext {
  engine: HtmlEngine;
  trackClick: boolean;
  policy: HrefPolicyContext;
  /** Tracked URL for a click on `target`, or null when no link can be made (the href stays). */
  clickUrl(target: string, linkName: string | null): string | null;
  /** Pixel URLs; null = no such pixel. */
  openUrl: string | null;
  initialOpenUrl: string | null;
  /** Turns a raw attribute value (as it sits in the input string) into text; null = cannot decode. */
  decodeRaw(raw: string): string | null;
  /** Line ending written after a pixel. @default "\n" */
  eol?: string;
}

/** The rewritten document and what was done. */
export interface HtmlRewriteResult {
  html: string;
  changed: boolean;
  links: number;
  skipped: number;
  pixels: number;
  /** Skip reasons seen, for debugging and tests. */
  skips: SkipReason[];
}

/** Raw attribute value → tokenized value: CR/LF as the input preprocessor, NUL, then character references. */
export function decodeAttributeValue(raw: string): string {
  let text = raw;
  if (text.includes("\r")) text = text.replace(/\r\n?/g, "\n");
  if (text.includes("\u0000")) text = text.replace(/\u0000/g, "\uFFFD");
  return text.includes("&") ? decodeHTMLAttribute(text) : text;
}

const POLICY_ATTRIBUTES = new Set([...CONTROL_ATTRIBUTES, "data-link-name", "data-msys-linkname", "rel"]);

function isLinkTag(name: string): boolean {
  return name === "a" || name === "area" || (name.length > 2 && name.charCodeAt(0) === 118 && name.charCodeAt(1) === 58); // "v:…"
}

/**
 * Rewrites `html`. Never throws on any input string (engines and policy are total); the caller still
 * guards it, because "never lose mail" does not rest on a proof.
 * @example rewriteHtml("<body><a href=\"https://x.example/\">x</a></body>", ctx).html
 */
export function rewriteHtml(html: string, ctx: HtmlRewriteContext): HtmlRewriteResult {
  const eol = ctx.eol ?? "\n";
  const out: string[] = [];
  let last = 0;
  let links = 0;
  let skipped = 0;
  let pixels = 0;
  let sawBodyEnd = false;
  const skips: SkipReason[] = [];

  function edit(start: number, end: number, text: string): void {
    out.push(html.slice(last, start), text);
    last = end;
  }

  /** Edits of one link tag, in source order. `base` shifts offsets of a nested (comment) scan. */
  function linkTag(attrs: readonly TagAttr[], base: number): void {
    let href: TagAttr | undefined;
    const map = new Map<string, string>();
    for (const a of attrs) {
      if (a.name === "href") href ??= a;
      if (POLICY_ATTRIBUTES.has(a.name)) {
        const raw = a.quote === -1 ? "" : html.slice(base + a.valueStart, base + a.valueEnd);
        map.set(a.name, decodeAttributeValue(ctx.decodeRaw(raw) ?? raw)); // charset first, so a link name keeps its letters
      }
    }
    const tagEdits: { start: number; end: number; text: string }[] = [];
    if (href && href.quote !== -1) {
      const raw = html.slice(base + href.valueStart, base + href.valueEnd);
      const text = ctx.decodeRaw(raw);
      const decision: HrefDecision = text === null ? { track: false, reason: "invalid" } : decideHref(decodeAttributeValue(text), map, ctx.policy);
      let replacement: string | null = null;
      if (decision.track) {
        replacement = ctx.clickUrl(decision.target, decision.linkName);
        if (replacement === null) {
          skipped++;
          skips.push("invalid");
        } else links++;
      } else {
        skipped++;
        skips.push(decision.reason);
        if (decision.rewriteTo !== undefined && /^[\x20-\x7e]*$/.test(decision.rewriteTo)) replacement = decision.rewriteTo;
      }
      if (replacement !== null) {
        const escaped = escapeAttribute(replacement);
        if (href.quote === 0) tagEdits.push({ start: base + href.valueStart, end: base + href.valueEnd, text: `"${escaped}"` });
        else tagEdits.push({ start: base + href.valueStart, end: base + href.valueEnd, text: href.quote === 39 ? escaped.replace(/'/g, "&#39;") : escaped });
      }
    }
    for (const a of attrs) {
      if (!CONTROL_ATTRIBUTES.has(a.name)) continue;
      // remove the attribute and the whitespace after it, keeping the whitespace before it, so an
      // unquoted value in front never runs into what follows
      let end = base + a.end;
      while (end < html.length && /[\t\n\f\r ]/.test(html[end]!)) end++;
      if (html[end] === ">" || html[end] === "/") end = base + a.end;
      tagEdits.push({ start: base + a.start, end, text: "" });
    }
    tagEdits.sort((x, y) => x.start - y.start);
    for (const e of tagEdits) edit(e.start, e.end, e.text);
  }

  function linkHandler(base: number): HtmlHandler {
    return {
      wants: isLinkTag,
      startTag(_name, _start, _end, attrs) {
        linkTag(attrs, base);
      },
      endTag() {},
      comment() {},
    };
  }

  const handler: HtmlHandler = {
    wants(name) {
      return name === "body" || (ctx.trackClick && isLinkTag(name));
    },
    startTag(name, _start, end, attrs) {
      if (name === "body") {
        if (ctx.initialOpenUrl !== null) {
          edit(end, end, initialOpenPixel(ctx.initialOpenUrl, eol));
          pixels++;
        }
        return;
      }
      linkTag(attrs, 0);
    },
    endTag(name, start) {
      if (name !== "body") return;
      sawBodyEnd = true;
      if (ctx.openUrl !== null) {
        edit(start, start, openPixel(ctx.openUrl, eol));
        pixels++;
      }
    },
    comment(start, end) {
      if (!ctx.trackClick) return;
      const [ds, de] = commentData(html, start, end);
      // Outlook conditional comments (<!--[if mso]> … <![endif]-->) hold VML buttons and links
      if (!/^\s*\[if/i.test(html.slice(ds, Math.min(de, ds + 16)))) return;
      ctx.engine(html.slice(ds, de), linkHandler(ds));
    },
  };

  ctx.engine(html, handler);
  if (!sawBodyEnd && ctx.openUrl !== null) {
    edit(html.length, html.length, openPixel(ctx.openUrl, eol));
    pixels++;
  }
  if (out.length === 0) return { html, changed: false, links, skipped, pixels, skips };
  out.push(html.slice(last));
  const result = out.join("");
  return { html: result, changed: result !== html, links, skipped, pixels, skips };
}
