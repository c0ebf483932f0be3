/**
 * @module The message rewriter: `Splitter` (mailsplit) `→ PartRewriter` between two spools.
 *
 * Never lose mail: the whole input is spooled first (memory up to `spoolMemoryBytes`, then a temp file),
 * the rewrite goes into a second spool, and only a rewrite that finished is relayed; any failure relays the
 * first spool, byte for byte. Memory stays flat: attachments stream through, and only the one HTML or text
 * part being rewritten is held (capped by `maxPartBytes`). Every byte mailsplit hands over unrewritten is
 * checked against the input (compared byte for byte while the input is in memory, by SHA-1 once it is on
 * disk), so a splitter that lost or changed a byte makes the message fall back instead of going out altered.
 */
import { isAscii } from "node:buffer"; // SIMD in Bun and Deno: ~2 µs for 60 KB, where a regex or byte loop takes 40-70
import { randomBytes } from "node:crypto";
import { PassThrough, Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Splitter } from "@zone-eu/mailsplit";
import * as libqp from "libqp";
import libmime from "libmime";
import { createUrlMemo, listUnsubscribeTargets, trackingHostOf, type HrefPolicyContext } from "../core/href-policy.ts";
import { spMessageId } from "../core/message-id.ts";
import { CONTROL_HEADERS, parseMsysApi, parseMtatrackOptions } from "../core/tracking-controls.ts";
import { trackedUrl } from "../core/tracked-url.ts";
import type { LinkAction } from "../core/link-codec.ts";
import { silentLogger } from "../log.ts";
import { charsetKind, decodeBinaryValue, decodeStrict, encodeStrict } from "./charsets.ts";
import { createScanner, type HtmlEngine } from "./html-scan.ts";
import { parse5Engine } from "./html-reference.ts";
import { decodeAttributeValue, rewriteHtml } from "./html-rewriter.ts";
import { editHeaderBlock, fieldValues, parseHeaderBlock } from "./raw-headers.ts";
import { Spool } from "./spool.ts";
import { rewriteText } from "./text-rewriter.ts";
import type {
  Envelope,
  MessageRewriter,
  MessageRewriterDeps,
  RewriterSettings,
  RewriteSummary,
  RewrittenMessage,
  TrackingOptions,
} from "./types.ts";

export type * from "./types.ts";

/** The operator defaults, as the original's flags (reference §6.1). */
export const DEFAULT_TRACKING_OPTIONS: Readonly<TrackingOptions> = Object.freeze({
  trackOpen: true,
  trackInitialOpen: false,
  trackClick: false,
  trackText: false,
  trackSigned: false,
});

/** Defaults of {@link RewriterSettings}. */
export const DEFAULT_REWRITER_SETTINGS: Readonly<RewriterSettings> = Object.freeze({
  linkFormat: "v2",
  rcptInLinks: true,
  linkTtlSeconds: null,
  spoolMemoryBytes: 1024 * 1024,
  spoolDir: null,
  maxPartBytes: 16 * 1024 * 1024,
  maxLinks: 10_000,
  htmlEngine: "scan",
});

/** The fast engine, shared: it is stateless between calls. */
export const scanEngine: HtmlEngine = createScanner(decodeAttributeValue);

/** A failure that makes the message go out unmodified, with a machine-readable reason. */
class Fallback extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly outcome: "fallback" | "unchanged" = "fallback",
  ) {
    super(message);
  }
}

/** What one message's rewrite decided and counted. */
interface MessageState {
  options: TrackingOptions;
  messageId: string | null;
  policy: HrefPolicyContext;
  clickUrl: (target: string, linkName: string | null) => string | null;
  openUrl: string | null;
  initialOpenUrl: string | null;
  changed: boolean;
  links: number;
  skippedLinks: number;
  pixels: number;
  partsRewritten: number;
}

/**
 * Creates the rewriter. See `types.ts` for the contract.
 * @example
 * const rewriter = createMessageRewriter({ codec, trackingUrl: "https://t.example.com", options: { trackClick: true } });
 * const message = await rewriter.rewrite(dataStream, { rcpt: "bob@example.com" });
 * await pipeline(message.stream(), upstreamData); await message.close();
 */
export function createMessageRewriter(deps: MessageRewriterDeps): MessageRewriter {
  const options: TrackingOptions = { ...DEFAULT_TRACKING_OPTIONS, ...deps.options };
  const settings: RewriterSettings = { ...DEFAULT_REWRITER_SETTINGS, ...deps.settings };
  const log = (deps.log ?? silentLogger).withTag("rewriter");
  const now = deps.now ?? Date.now;
  const newMessageId = deps.newMessageId ?? (() => spMessageId(now(), randomBytes(4)));
  const engine = settings.htmlEngine === "parse5" ? parse5Engine : scanEngine;
  // Validated once; trackedUrl throws RangeError on a bad base, which is a configuration error.
  const linkPrefix = deps.trackingUrl === "" ? "" : trackedUrl(deps.trackingUrl, "x").slice(0, -1);
  const trackingHost = trackingHostOf(deps.trackingUrl);
  // One memo of href parses for the rewriter's life: a campaign's messages repeat the same links.
  const urlMemo = createUrlMemo();

  async function rewrite(input: Readable | AsyncIterable<Uint8Array>, envelope: Envelope): Promise<RewrittenMessage> {
    const original = new Spool(settings.spoolMemoryBytes, settings.spoolDir, { checkable: true });
    try {
      for await (const chunk of input as AsyncIterable<Uint8Array | string>) {
        const buf = typeof chunk === "string" ? Buffer.from(chunk, "latin1") : chunk;
        await original.write(buf);
      }
      await original.end();
    } catch (cause) {
      await original.close();
      throw cause;
    }
    const started = performance.now();
    const summary: RewriteSummary = {
      outcome: "unchanged",
      reason: null,
      detail: null,
      messageId: null,
      links: 0,
      skippedLinks: 0,
      pixels: 0,
      partsRewritten: 0,
      bytesIn: original.size,
      bytesOut: original.size,
    };
    if (deps.trackingUrl === "") {
      summary.reason = "pass-through";
      return finish(summary, original, null);
    }
    const state: MessageState = {
      options: { ...options },
      messageId: null,
      policy: { trackingHost, unsubscribeTargets: new Set(), urlMemo },
      clickUrl: () => null,
      openUrl: null,
      initialOpenUrl: null,
      changed: false,
      links: 0,
      skippedLinks: 0,
      pixels: 0,
      partsRewritten: 0,
    };
    const output = new Spool(settings.spoolMemoryBytes, settings.spoolDir);
    const check = original.checker();
    try {
      // PartRewriter emits the output bytes itself, so mailsplit's Joiner (a pass-through for them) is left out
      await pipeline(
        original.stream(),
        new Splitter({ ignoreEmbedded: true }),
        new PartRewriter(state, check, { envelope, settings, engine, newMessageId, makeUrl, log }),
        output.writable(),
      );
      if (!check.matches()) {
        throw new Fallback("mime-roundtrip", "The MIME splitter did not hand over every input byte unchanged");
      }
    } catch (error) {
      await output.close();
      const fallback = error instanceof Fallback ? error : null;
      summary.outcome = fallback?.outcome ?? "fallback";
      summary.reason = fallback?.reason ?? "error";
      summary.detail = error instanceof Error ? error.message : String(error);
      summary.messageId = fallback?.outcome === "unchanged" ? state.messageId : null;
      if (summary.outcome === "fallback") log.warn(`Message relayed unmodified (${summary.reason}): ${summary.detail}`);
      else log.info(`Message relayed untouched (${summary.reason}): ${summary.detail}`);
      return finish(summary, original, null);
    }
    Object.assign(summary, {
      outcome: state.changed ? "rewritten" : "unchanged",
      reason: state.changed ? null : "nothing-to-change",
      messageId: state.messageId,
      links: state.links,
      skippedLinks: state.skippedLinks,
      pixels: state.pixels,
      partsRewritten: state.partsRewritten,
      bytesOut: output.size,
    });
    log.debug(`Rewrote message ${state.messageId}: ${state.links} links, ${state.pixels} pixels in ${(performance.now() - started).toFixed(1)} ms`);
    return finish(summary, output, original);
  }

  function makeUrl(action: LinkAction, fields: { msgId: string; rcpt: string | null; target: string | null; linkName: string | null }): string | null {
    try {
      const v2 = settings.linkFormat !== "v1";
      const token = deps.codec.encode(
        {
          action,
          msgId: fields.msgId,
          rcpt: settings.rcptInLinks ? fields.rcpt : null,
          targetUrl: fields.target,
          ...(v2 ? { linkName: fields.linkName, expiresAt: settings.linkTtlSeconds === null ? null : Math.floor(now() / 1000) + settings.linkTtlSeconds } : {}),
        },
        { format: settings.linkFormat },
      );
      return linkPrefix + token;
    } catch {
      return null; // a field the codec cannot carry (e.g. too long): the link stays as it was
    }
  }

  async function finish(summary: RewriteSummary, chosen: Spool, other: Spool | null): Promise<RewrittenMessage> {
    if (other) await other.close();
    try {
      deps.metrics?.message?.(summary);
    } catch (error) {
      log.warn(`Rewriter metrics failed: ${error instanceof Error ? error.message : String(error)}`); // never the mail's problem
    }
    return {
      summary,
      size: chosen.size,
      stream: () => chosen.stream(),
      bytes: () => chosen.bytes(),
      close: () => chosen.close(),
    };
  }

  return {
    rewrite,
    async close() {},
  };
}

interface PartRewriterContext {
  envelope: Envelope;
  settings: RewriterSettings;
  engine: HtmlEngine;
  newMessageId: () => string;
  makeUrl: (action: LinkAction, fields: { msgId: string; rcpt: string | null; target: string | null; linkName: string | null }) => string | null;
  log: { warn(...args: unknown[]): void };
}

/** A mailsplit node as the splitter emits it (the fields the rewriter reads). */
interface SplitNode {
  type: "node";
  root: boolean;
  contentType: string | false;
  charset: string | false;
  encoding: string | false;
  disposition: string | false;
  parentNode: SplitNode | false;
  getHeaders(): Buffer;
}
type SplitChunk = SplitNode | { type: "body" | "data"; node?: SplitNode; value: Buffer };

/** What the splitter handed over unrewritten is checked against the input (see `Spool.checker`). */
interface InputCheck {
  update(piece: Uint8Array): void;
}

/**
 * Takes the splitter's objects and emits the output bytes: edits the root headers, collects and rewrites
 * candidate parts, and passes every other byte through.
 */
class PartRewriter extends Transform {
  #state: MessageState;
  #hash: InputCheck;
  #ctx: PartRewriterContext;
  #current: { node: SplitNode; headers: Buffer; chunks: Buffer[]; size: number } | null = null;

  constructor(state: MessageState, hash: InputCheck, ctx: PartRewriterContext) {
    super({ readableObjectMode: false, writableObjectMode: true });
    this.#state = state;
    this.#hash = hash;
    this.#ctx = ctx;
  }

  override _transform(chunk: SplitChunk, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.#handle(chunk);
      cb();
    } catch (error) {
      cb(error as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.#finishPart();
      cb();
    } catch (error) {
      cb(error as Error);
    }
  }

  #handle(chunk: SplitChunk): void {
    const current = this.#current;
    if (current && chunk.type === "body" && chunk.node === current.node) {
      this.#hash.update(chunk.value);
      current.size += chunk.value.length;
      if (current.size > this.#ctx.settings.maxPartBytes) {
        throw new Fallback("part-too-large", `A ${current.node.contentType} part is larger than ${this.#ctx.settings.maxPartBytes} bytes`);
      }
      current.chunks.push(chunk.value);
      return;
    }
    if (current) this.#finishPart();
    if (chunk.type !== "node") {
      this.#hash.update(chunk.value);
      this.push(chunk.value);
      return;
    }
    const original = chunk.getHeaders();
    this.#hash.update(original);
    const headers = chunk.root ? this.#rootHeaders(original) : original;
    if (this.#isCandidate(chunk)) {
      this.#current = { node: chunk, headers, chunks: [], size: 0 };
    } else {
      this.push(headers);
    }
  }

  #isCandidate(node: SplitNode): boolean {
    if (node.disposition === "attachment") return false;
    // S/MIME and PGP/MIME signatures (RFC 1847) cover their first part byte for byte: never rewrite inside
    for (let p = node.parentNode; p; p = p.parentNode) if (p.contentType === "multipart/signed" || p.contentType === "multipart/encrypted") return false;
    const o = this.#state.options;
    if (node.contentType === "text/html") return o.trackClick || o.trackOpen || o.trackInitialOpen;
    if (node.contentType === "text/plain") return o.trackText && o.trackClick;
    return false;
  }

  /** Reads the controls, applies the DKIM policy, and returns the edited root header block. */
  #rootHeaders(raw: Buffer): Buffer {
    const state = this.#state;
    const block = parseHeaderBlock(raw.toString("latin1"));
    const existingId = fieldValues(block, "x-sp-message-id")[0];
    state.messageId = existingId || null;
    if (fieldValues(block, "dkim-signature").length > 0 && !state.options.trackSigned) {
      throw new Fallback("dkim-signed", "The message carries a DKIM-Signature; rewriting would break it", "unchanged");
    }
    const ours = parseMtatrackOptions(fieldValues(block, "x-mtatrack-options"));
    const msys = parseMsysApi(fieldValues(block, "x-msys-api"));
    for (const problem of [...ours.problems, ...msys.problems]) this.#ctx.log.warn(problem);
    const controls = { ...msys.controls, ...ours.controls };
    const o = state.options;
    if (controls.open !== undefined) o.trackOpen = controls.open;
    if (controls.initialOpen !== undefined) o.trackInitialOpen = controls.initialOpen;
    if (controls.click !== undefined) o.trackClick = controls.click;
    if (controls.text !== undefined) o.trackText = controls.text;

    const msgId = existingId || this.#ctx.envelope.messageId || this.#ctx.newMessageId();
    state.messageId = msgId;
    const rcpt = this.#ctx.envelope.rcpt;
    state.policy = { ...state.policy, unsubscribeTargets: listUnsubscribeTargets(fieldValues(block, "list-unsubscribe")) };
    const make = this.#ctx.makeUrl;
    let budget = this.#ctx.settings.maxLinks;
    // Newsletters repeat their links (logo, headline and "read more" to one article); the token is a pure
    // function of the fields, so one encode (deflate + HMAC) per distinct link in a message is enough.
    // Links without a name (the usual case) are keyed by the target itself, named ones in a map of their own.
    const made = new Map<string, string | null>();
    const madeNamed = new Map<string, string | null>();
    // a cap, so a message stuffed with links cannot buy unbounded CPU on the send path
    state.clickUrl = (target, linkName) => {
      if (budget-- <= 0) return null;
      const cache = linkName === null ? made : madeNamed;
      const key = linkName === null ? target : `${linkName.length}:${linkName}|${target}`; // unambiguous
      let url = cache.get(key);
      if (url === undefined) {
        url = make("click", { msgId, rcpt, target, linkName });
        cache.set(key, url);
      }
      return url;
    };
    state.openUrl = o.trackOpen ? make("open", { msgId, rcpt, target: null, linkName: null }) : null;
    state.initialOpenUrl = o.trackInitialOpen ? make("initial_open", { msgId, rcpt, target: null, linkName: null }) : null;

    const remove = new Set(block.fields.map((f) => f.name).filter((n) => CONTROL_HEADERS.includes(n)));
    const prepend = existingId ? [] : [`X-Sp-Message-Id: ${msgId}`];
    if (remove.size === 0 && prepend.length === 0) return raw;
    state.changed = true;
    return Buffer.from(editHeaderBlock(block, { remove, prepend }), "latin1");
  }

  #finishPart(): void {
    const current = this.#current;
    if (!current) return;
    this.#current = null;
    const raw = Buffer.concat(current.chunks, current.size);
    const rewritten = this.#rewritePart(current.node, raw, current.headers);
    if (rewritten) {
      this.push(rewritten.headers);
      this.push(rewritten.body);
      this.#state.changed = true;
      this.#state.partsRewritten++;
    } else {
      this.push(current.headers);
      if (raw.length > 0) this.push(raw);
    }
  }

  /** Rewrites one part body; null when it needs no change. Throws Fallback when it cannot be decoded. */
  #rewritePart(node: SplitNode, raw: Buffer, headers: Buffer): { headers: Buffer; body: Buffer } | null {
    const state = this.#state;
    const cte = node.encoding || "7bit";
    let decoded: Buffer;
    if (cte === "base64") decoded = decodeBase64(raw);
    else if (cte === "quoted-printable") decoded = decodeQuotedPrintable(raw);
    else if (cte === "7bit" || cte === "8bit" || cte === "binary") decoded = raw;
    else return null; // an encoding we do not know (x-uuencode, …): not ours to touch
    const kind = charsetKind(node.charset);
    // the part's own line ending; a part without any takes the header block's, so no bare LF enters a CRLF message
    const eol = decoded.includes("\r\n") ? "\r\n" : decoded.includes("\n") ? "\n" : headerEol(headers);

    let text: string;
    if (kind === "ascii-compatible" && node.contentType === "text/html") {
      text = decoded.toString("latin1");
    } else {
      const strict = decodeStrict(decoded, node.charset);
      if (node.contentType === "text/plain") {
        // opt-in text tracking never costs the message its HTML tracking: a text part that does not decode
        // and re-encode to exactly its own bytes is simply left alone
        if (strict === null || kind !== "ascii-compatible" || !encodeStrict(strict, node.charset)?.equals(decoded)) return null;
      } else if (strict === null) {
        throw new Fallback("undecodable-part", `Cannot decode a ${node.contentType} part as "${node.charset || "us-ascii"}"`);
      }
      text = strict;
    }

    let out: string;
    if (node.contentType === "text/html") {
      const result = rewriteHtml(text, {
        engine: this.#ctx.engine,
        trackClick: state.options.trackClick,
        policy: state.policy,
        clickUrl: state.clickUrl,
        openUrl: state.openUrl,
        initialOpenUrl: state.initialOpenUrl,
        decodeRaw: kind === "ascii-compatible" ? (value) => decodeBinaryValue(value, node.charset) : (value) => value,
        eol,
      });
      state.links += result.links;
      state.skippedLinks += result.skipped;
      state.pixels += result.pixels;
      if (!result.changed) return null;
      out = result.html;
    } else {
      const result = rewriteText(text, state.policy, (target) => state.clickUrl(target, null));
      state.links += result.links;
      state.skippedLinks += result.skipped;
      if (!result.changed) return null;
      out = result.text;
    }

    let bytes: Buffer;
    let charset: string | null = null;
    if (kind === "ascii-compatible" && node.contentType === "text/html") {
      bytes = Buffer.from(out, "latin1");
    } else {
      const encoded = kind === "ascii-compatible" ? encodeStrict(out, node.charset) : null;
      if (encoded) bytes = encoded;
      else {
        bytes = Buffer.from(out, "utf8");
        charset = "utf-8";
      }
    }

    let newCte: string | null = null;
    let body: Buffer;
    if (cte === "base64") body = encodeBase64(bytes, raw);
    else if (cte === "quoted-printable") body = encodeQuotedPrintable(bytes, raw, eol);
    else if (cte !== "binary" && (longestLine(bytes) > 998 || (cte === "7bit" && !isAscii(bytes)))) {
      // 7bit/8bit allow at most 998 octets a line (RFC 5322 §2.1.1) and 7bit no 8-bit bytes
      newCte = "quoted-printable";
      body = encodeQuotedPrintable(bytes, raw, eol);
    } else body = bytes;

    let newHeaders = headers;
    if (newCte || charset) {
      const block = parseHeaderBlock(headers.toString("latin1"));
      const replace = new Map<string, string>();
      if (newCte) replace.set("content-transfer-encoding", `Content-Transfer-Encoding: ${newCte}`);
      if (charset) {
        const parsed = libmime.parseHeaderValue(fieldValues(block, "content-type")[0] ?? "text/plain");
        parsed.params.charset = charset;
        replace.set("content-type", `Content-Type: ${libmime.buildHeaderValue(parsed)}`);
      }
      newHeaders = Buffer.from(editHeaderBlock(block, { replace }), "latin1");
    }
    return { headers: newHeaders, body };
  }
}

const BASE64_BODY = /^[A-Za-z0-9+/\r\n\t ]*={0,2}[\r\n\t ]*$/;

/** Strict base64: only the alphabet, whitespace and final padding, and a whole number of quanta. */
function decodeBase64(raw: Buffer): Buffer {
  const text = raw.toString("latin1");
  const compact = text.replace(/[\r\n\t ]/g, "");
  if (!BASE64_BODY.test(text) || compact.length % 4 !== 0) {
    throw new Fallback("undecodable-part", "A base64 part is not valid base64");
  }
  return Buffer.from(compact, "base64");
}

/** Re-encodes base64 in 76-column lines, with the original line ending and trailing break. */
function encodeBase64(bytes: Buffer, original: Buffer): Buffer {
  const eol = original.includes("\n") && !original.includes("\r\n") ? "\n" : "\r\n";
  const b64 = bytes.toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  const trailing = /\r?\n$/.test(original.toString("latin1", Math.max(0, original.length - 2))) ? eol : "";
  return Buffer.from(lines.join(eol) + trailing, "latin1");
}

/** Strict quoted-printable: every "=" starts a hex pair or a soft line break. */
function decodeQuotedPrintable(raw: Buffer): Buffer {
  const text = raw.toString("latin1");
  if (/=(?![0-9A-Fa-f]{2}|[ \t]*\r?\n|[ \t]*$)/.test(text)) {
    throw new Fallback("undecodable-part", "A quoted-printable part has a malformed escape");
  }
  return libqp.decode(text);
}

/** Quoted-printable with soft breaks at 76 columns, in the part's line ending style. */
function encodeQuotedPrintable(bytes: Buffer, original: Buffer, eol: string): Buffer {
  let text = libqp.wrap(libqp.encode(bytes), 76);
  // encoded line breaks follow the part's style: CRLF on the wire, unless the message is LF-only
  text = eol === "\n" ? text.replace(/\r\n/g, "\n") : text.replace(/\r?\n/g, "\r\n");
  const endsWithBreak = /\n$/.test(original.toString("latin1", Math.max(0, original.length - 1)));
  if (endsWithBreak && !text.endsWith("\n")) text += eol;
  return Buffer.from(text, "latin1");
}

function headerEol(headers: Buffer): string {
  const lf = headers.indexOf(10);
  return lf > 0 && headers[lf - 1] !== 13 ? "\n" : "\r\n";
}

function longestLine(bytes: Buffer): number {
  let longest = 0;
  let start = 0;
  for (let i = bytes.indexOf(10); i >= 0; i = bytes.indexOf(10, i + 1)) {
    const end = i > start && bytes[i - 1] === 13 ? i - 1 : i;
    longest = Math.max(longest, end - start);
    start = i + 1;
  }
  return Math.max(longest, bytes.length - start);
}


/**
 * Rewrites one message held in memory: for tests and for the proxy's own tests, which want to compare what
 * the upstream received with exactly what the rewriter produces. Give `newMessageId` (or `envelope.messageId`)
 * and no `linkTtlSeconds`, and the output is deterministic: v2 tokens are an HMAC, with no randomness.
 * @example const { bytes, summary } = await rewriteMessageBytes(deps, raw, { rcpt: "bob@example.com", messageId: "0000aaaabbbbccccdddd" });
 */
export async function rewriteMessageBytes(
  deps: MessageRewriterDeps,
  message: Uint8Array | string,
  envelope: Envelope,
): Promise<{ bytes: Buffer; summary: RewriteSummary }> {
  const rewriter = createMessageRewriter(deps);
  const input = typeof message === "string" ? Buffer.from(message, "latin1") : Buffer.from(message);
  const result = await rewriter.rewrite(Readable.from([input]), envelope);
  try {
    return { bytes: Buffer.from(await result.bytes()), summary: result.summary };
  } finally {
    await result.close();
    await rewriter.close();
  }
}

/**
 * The pipeline-friendly form: a Readable that stays silent until the rewrite has finished, then streams the
 * bytes to relay (the rewrite, or the original after a failure) and frees the spools at its end. `summary`
 * settles when the rewrite has finished; if the input fails, both the stream and `summary` reject.
 * @example
 * const { output, summary } = rewriteToStream(rewriter, dataStream, { rcpt });
 * await pipeline(output, upstreamData); log.info(await summary);
 */
export function rewriteToStream(
  rewriter: MessageRewriter,
  input: Readable | AsyncIterable<Uint8Array>,
  envelope: Envelope,
): { output: Readable; summary: Promise<RewriteSummary> } {
  const output = new PassThrough();
  // the failure also reaches readers through the stream's errored state (pipeline, async iteration); this
  // listener only keeps an 'error' emitted before anyone reads from turning into an uncaught exception
  output.on("error", () => {});
  const summary = rewriter.rewrite(input, envelope).then((message) => {
    const source = message.stream();
    const release = () => void message.close();
    source.once("error", (error) => output.destroy(error));
    output.once("close", release);
    source.pipe(output);
    return message.summary;
  });
  summary.catch((error: unknown) => output.destroy(error instanceof Error ? error : new Error(String(error))));
  return { output, summary };
}
