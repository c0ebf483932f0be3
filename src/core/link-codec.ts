/**
 * @module The link codec: tracked-link tokens in the original's unsigned v1 format and mtatrack's signed v2.
 *
 * v1 = base64url-with-padding(zlib(JSON {"act","t_url","msg_id","rcpt"})), always starting "eJ".
 * v2 = "2." kid "." base64url(zlib(JSON)) "." base64url(HMAC-SHA256(key, everything before the last ".")[0..16]),
 * its zlib stream written with the preset dictionary of link-dictionary.ts and fixed Huffman codes (or plain,
 * as before the dictionary, on request).
 * The byte-by-byte format and test vectors are in docs/links.md.
 */
import { dictionaryIdOf, V2_DICTIONARIES, V2_DICTIONARY } from "./link-dictionary.ts";

/** What a link records when it is fetched. */
export type LinkAction = "open" | "initial_open" | "click";

/** One key of the ring: `kid` travels in the token, `secret` never does. */
export interface LinkKey { readonly kid: string; readonly secret: Uint8Array }

/** What a link carries. */
export interface LinkFields {
  action: LinkAction;
  msgId: string;
  /** null = recipient left out of the link (v1 encodes ""). */
  rcpt: string | null;
  /** Clicks only; http/https only. */
  targetUrl: string | null;
  /** v2 only: data-link-name of the `<a>`. */
  linkName?: string | null;
  /** v2 only: unix seconds after which the link no longer verifies. */
  expiresAt?: number | null;
}

/** A token that decoded and, for v2, verified. `kid` is null for v1. */
export interface DecodedLink extends Required<LinkFields> { format: "v1" | "v2"; kid: string | null }

/** Why a token was refused. */
export type DecodeFailure =
  | "too-long" // longer than maxTokenLength
  | "malformed" // not base64, not zlib, not JSON, or JSON of the wrong shape
  | "inflate-cap" // inflates past maxInflatedBytes (a zlib bomb)
  | "unknown-key" // v2 key id not in the ring
  | "bad-signature" // v2 tag does not match
  | "expired" // v2 past its expiresAt
  | "v1-disabled" // a v1 token while acceptV1 is off
  | "bad-target"; // a click whose target is not http(s)

/** The outcome of decode: a value, never an exception. */
export type DecodeResult = { ok: true; link: DecodedLink } | { ok: false; reason: DecodeFailure; message: string };

/** How a zlib stream is written: zlib's defaults, or with a preset dictionary and/or fixed Huffman codes. */
export interface DeflateOptions {
  /** Written as a preset dictionary (RFC 1950 FDICT): the stream names it by its Adler-32. */
  dictionary?: Uint8Array;
  /** Fixed Huffman codes only (zlib's Z_FIXED): a few bytes longer, but nothing for the inflater to build. */
  fixedCodes?: boolean;
}

/** Injected so core stays pure and still runs at native speed. */
export interface CodecPrimitives {
  /** `data` as bytes, or as text taken as UTF-8 (a token: no copy into bytes first). */
  hmacSha256(key: Uint8Array, data: Uint8Array | string): Uint8Array;
  /** zlib (RFC 1950). */
  deflate(data: Uint8Array, opts?: DeflateOptions): Uint8Array;
  /**
   * Throws RangeError past maxBytes, having inflated no more than about maxBytes. A stream that asks for a
   * preset dictionary inflates only with that `dictionary`; without one it is refused like a broken stream.
   */
  inflate(data: Uint8Array, maxBytes: number, dictionary?: Uint8Array): Uint8Array;
}

/**
 * The token formats the encoder writes: v1, v2 (with the preset dictionary: shorter), or v2-plain (v2 as
 * written before the dictionary, for trackers that cannot read it yet). The decoder reads all three.
 */
export type LinkEncoding = "v1" | "v2" | "v2-plain";

/** Encodes and decodes tokens under one key ring. */
export interface LinkCodec {
  /** Returns the token, one URL path segment. @throws {RangeError} on fields it cannot carry. */
  encode(fields: LinkFields, opts?: { format?: LinkEncoding }): string;
  /** Never throws; `now` is unix milliseconds. */
  decode(token: string, opts: { now: number }): DecodeResult;
}

/** Options of {@link createLinkCodec}. */
export interface LinkCodecOptions {
  primitives: CodecPrimitives;
  /** The first key signs, every key verifies. May be empty for a v1-only decoder. */
  keys: readonly LinkKey[];
  /** Decode unsigned v1 links. @default false */
  acceptV1?: boolean;
  /** Longest token accepted or produced, in characters. @default 4096 */
  maxTokenLength?: number;
  /** Largest inflated payload, in bytes. @default 8192 */
  maxInflatedBytes?: number;
}

/** @default for maxTokenLength: nginx's default header buffer is 8 KiB for the whole request line. */
export const DEFAULT_MAX_TOKEN_LENGTH = 4096;
/** @default for maxInflatedBytes: a few KiB, so a zlib bomb costs nothing. */
export const DEFAULT_MAX_INFLATED_BYTES = 8192;
/** v2 tag length: 128 bits of HMAC-SHA256 (RFC 2104 §5 truncation), 22 base64url characters. */
export const V2_TAG_BYTES = 16;
const V2_TAG_CHARS = 22;
const V2_PREFIX = "2.";

const V1_ACT = { open: "o", initial_open: "i", click: "c" } as const satisfies Record<LinkAction, string>;
const V1_ACTION: Record<string, LinkAction> = { o: "open", i: "initial_open", c: "click" };
const KID = /^[A-Za-z0-9_-]{1,32}$/;
const V1_TEXT = /^[A-Za-z0-9_-]+={0,2}$/;
// Checked on the raw string: a string that starts with these letters parses as http(s) under WHATWG URL
// rules too (only leading C0/space and inner tab/newline are stripped by parsers, and neither can appear here).
const HTTP_TARGET = /^https?:\/\//i;
const V2_KEYS = new Set(["a", "m", "r", "u", "n", "x"]);
const EXACT_V1_KEYS = new Set(["act", "t_url", "msg_id", "rcpt"]);

const encoder = new TextEncoder();
// Non-fatal: invalid UTF-8 becomes U+FFFD, as Go's json does. A leading BOM is kept, so JSON.parse refuses it
// as Go's json does; and keeping it skips a check that doubled the decoder's cost (BENCHMARKS.md).
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Creates a codec bound to a key ring and its limits.
 * @example
 * const codec = createLinkCodec({ primitives: nativePrimitives, keys: parseKeyRing(["k1:0123456789abcdef"]) });
 * const token = codec.encode({ action: "click", msgId: "m1", rcpt: null, targetUrl: "https://example.com" });
 * codec.decode(token, { now: Date.now() }); // { ok: true, link: { format: "v2", kid: "k1", action: "click", … } }
 */
export function createLinkCodec({
  primitives,
  keys,
  acceptV1 = false,
  maxTokenLength = DEFAULT_MAX_TOKEN_LENGTH,
  maxInflatedBytes = DEFAULT_MAX_INFLATED_BYTES,
}: LinkCodecOptions): LinkCodec {
  const byKid = new Map<string, LinkKey>();
  for (const key of keys) {
    if (!KID.test(key.kid)) throw new RangeError(`Link key id "${key.kid}" must be 1-32 characters of A-Z a-z 0-9 _ -`);
    if (!byKid.has(key.kid)) byKid.set(key.kid, key);
  }
  const signer = keys[0];

  function encode(fields: LinkFields, opts: { format?: LinkEncoding } = {}): string {
    const format = opts.format ?? "v2";
    checkFields(fields, format === "v1" ? "v1" : "v2");
    let token: string;
    if (format === "v1") {
      const zipped = primitives.deflate(encoder.encode(toV1Json(fields)));
      token = zipped.toBase64({ alphabet: "base64url" });
    } else if (format === "v2" || format === "v2-plain") {
      if (!signer) throw new RangeError("Cannot encode a v2 link without a link key");
      const json = encoder.encode(toV2Json(fields));
      const zipped = format === "v2" ? primitives.deflate(json, { dictionary: V2_DICTIONARY, fixedCodes: true }) : primitives.deflate(json);
      const payload = zipped.toBase64({ alphabet: "base64url", omitPadding: true });
      const signed = `${V2_PREFIX}${signer.kid}.${payload}`;
      token = `${signed}.${tagOf(signer, signed)}`;
    } else {
      throw new RangeError(`Unknown link format "${String(format)}": expected v1, v2 or v2-plain`);
    }
    if (token.length > maxTokenLength) throw new RangeError(`Link token would be ${token.length} characters, over the limit of ${maxTokenLength}`);
    return token;
  }

  function tagOf(key: LinkKey, signed: string): string {
    // slice, not subarray: a view makes the engine build the digest's ArrayBuffer, which costs more than copying 16 bytes.
    return primitives.hmacSha256(key.secret, signed).slice(0, V2_TAG_BYTES).toBase64({ alphabet: "base64url", omitPadding: true });
  }

  function decode(token: string, opts: { now: number }): DecodeResult {
    try {
      if (typeof token !== "string") return fail("malformed", "token is not a string");
      if (token.length > maxTokenLength) return fail("too-long", `token is ${token.length} characters, over the limit of ${maxTokenLength}`);
      if (token.startsWith(V2_PREFIX)) return decodeV2(token, opts.now);
      if (!acceptV1) {
        return token.startsWith("e") ? fail("v1-disabled", "v1 (unsigned) links are not accepted here") : fail("malformed", "not a v1 or v2 link token");
      }
      return decodeV1(token);
    } catch (error) {
      // Every expected failure is returned above; this keeps the "never throws" promise for the unexpected.
      return fail("malformed", `cannot decode: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  function decodeV2(token: string, now: number): DecodeResult {
    const kidEnd = token.indexOf(".", V2_PREFIX.length);
    const tagStart = token.lastIndexOf(".") + 1;
    if (kidEnd < 0 || tagStart <= kidEnd + 1) return fail("malformed", "v2 token needs 2.<kid>.<payload>.<tag>");
    const kid = token.slice(V2_PREFIX.length, kidEnd);
    const payload = token.slice(kidEnd + 1, tagStart - 1);
    const tag = token.slice(tagStart);
    // The payload's characters are left to the tag: only a key holder can make one that verifies.
    if (!KID.test(kid) || payload === "" || tag.length !== V2_TAG_CHARS) return fail("malformed", "v2 token has a bad key id, payload or tag");
    const key = byKid.get(kid);
    if (!key) return fail("unknown-key", `no link key with id "${kid}"`);
    // The tag is compared as text, so a flipped spare bit in its last character fails too.
    if (!constantTimeEqual(tagOf(key, token.slice(0, tagStart - 1)), tag)) return fail("bad-signature", "signature does not match");
    // Only authenticated bytes reach inflate and JSON.parse.
    const zipped = Uint8Array.fromBase64(payload, { alphabet: "base64url", lastChunkHandling: "loose" });
    const wanted = dictionaryIdOf(zipped);
    const dictionary = wanted === null ? undefined : V2_DICTIONARIES.get(wanted);
    if (wanted !== null && !dictionary) return fail("malformed", `v2 payload asks for an unknown dictionary (id ${wanted.toString(16).padStart(8, "0")})`);
    const data = inflateCapped(zipped, dictionary);
    if (!(data instanceof Uint8Array)) return data;
    const json = parseObject(data);
    if (!json) return fail("malformed", "v2 payload is not a JSON object");
    for (const name in json) if (!V2_KEYS.has(name)) return fail("malformed", `v2 payload has an unknown field "${name}"`);
    const { a, m, r = null, u = null, n = null, x = null } = json;
    const action = V1_ACTION[a as string];
    if (!action || typeof m !== "string" || !isStringOrNull(r) || !isStringOrNull(u) || !isStringOrNull(n)) return fail("malformed", "v2 payload has fields of the wrong type");
    if (x !== null && !(Number.isSafeInteger(x) && (x as number) >= 0)) return fail("malformed", "v2 expiry is not unix seconds");
    const expiresAt = x as number | null;
    if (expiresAt !== null && now >= expiresAt * 1000) return fail("expired", `link expired at ${new Date(expiresAt * 1000).toISOString()}`);
    if (action === "click" ? !(typeof u === "string" && HTTP_TARGET.test(u)) : u !== null) return fail("bad-target", "click target is not an http(s) URL");
    return { ok: true, link: { format: "v2", kid, action, msgId: m, rcpt: r as string | null, targetUrl: u as string | null, linkName: n as string | null, expiresAt } };
  }

  function decodeV1(raw: string): DecodeResult {
    let text = raw;
    // Go's decoder skips CR/LF, and a mail client may have percent-encoded the padding.
    if (text.includes("%")) text = text.replace(/%3d/gi, "=");
    if (text.includes("\n") || text.includes("\r")) text = text.replace(/[\r\n]/g, "");
    if (!V1_TEXT.test(text)) return fail("malformed", "v1 token is not base64url");
    let bytes: Uint8Array;
    try {
      bytes = Uint8Array.fromBase64(text, { alphabet: "base64url", lastChunkHandling: "loose" });
    } catch {
      return fail("malformed", "v1 token is not base64url");
    }
    const data = inflateCapped(bytes);
    if (!(data instanceof Uint8Array)) return data;
    const json = parseObject(data);
    if (!json) return fail("malformed", "v1 payload is not a JSON object");
    // Go's encoding/json matches keys case-insensitively (with Unicode simple folding: ſ is s), last one wins,
    // ignores unknown keys, and leaves missing or null ones empty.
    let act: unknown = "", tUrl: unknown = "", msgId: unknown = "", rcpt: unknown = "";
    for (const name in json) {
      const value = json[name] ?? "";
      // Exact names first: folding every key costs more than the rest of the field handling.
      switch (EXACT_V1_KEYS.has(name) ? name : name.length <= 6 ? name.toLowerCase().replace(/ſ/g, "s") : "") {
        case "act": act = value; break;
        case "t_url": tUrl = value; break;
        case "msg_id": msgId = value; break;
        case "rcpt": rcpt = value; break;
      }
    }
    if (typeof act !== "string" || typeof tUrl !== "string" || typeof msgId !== "string" || typeof rcpt !== "string") return fail("malformed", "v1 payload has fields of the wrong type");
    const action = V1_ACTION[act];
    if (!action) return fail("malformed", `v1 action "${act.slice(0, 20)}" is not o, i or c`);
    if (action === "click" && !HTTP_TARGET.test(tUrl)) return fail("bad-target", "click target is not an http(s) URL");
    const targetUrl = action === "click" ? tUrl : null;
    return { ok: true, link: { format: "v1", kid: null, action, msgId, rcpt: rcpt === "" ? null : rcpt, targetUrl, linkName: null, expiresAt: null } };
  }

  /** v1 passes no dictionary: the original never wrote one, so a v1 stream asking for one is malformed. */
  function inflateCapped(data: Uint8Array, dictionary?: Uint8Array): Uint8Array | DecodeResult {
    try {
      return primitives.inflate(data, maxInflatedBytes, dictionary);
    } catch (error) {
      if (error instanceof RangeError) return fail("inflate-cap", `payload inflates past ${maxInflatedBytes} bytes`);
      return fail("malformed", "payload is not a zlib stream");
    }
  }

  return Object.freeze({ encode, decode });
}

/**
 * The original's four-key JSON with Go's HTML-safe escaping (`\u0026 \u003c \u003e \u2028 \u2029`):
 * byte-identical to what Go's json.Marshal puts in a v1 link.
 * @example toV1Json({ action: "open", msgId: "m", rcpt: null, targetUrl: null }) // '{"act":"o","t_url":"","msg_id":"m","rcpt":""}'
 */
export function toV1Json(fields: Pick<LinkFields, "action" | "msgId" | "rcpt" | "targetUrl">): string {
  const json = JSON.stringify({ act: V1_ACT[fields.action], t_url: fields.targetUrl ?? "", msg_id: fields.msgId, rcpt: fields.rcpt ?? "" });
  return /[&<>\u2028\u2029]/.test(json) ? json.replace(/[&<>\u2028\u2029]/g, goEscape) : json;
}

function goEscape(ch: string): string {
  return `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/** v2's compact payload: short keys, absent values left out. */
function toV2Json(fields: LinkFields): string {
  const out: Record<string, string | number> = { a: V1_ACT[fields.action], m: fields.msgId };
  if (fields.rcpt != null) out.r = fields.rcpt;
  if (fields.targetUrl != null) out.u = fields.targetUrl;
  if (fields.linkName != null) out.n = fields.linkName;
  if (fields.expiresAt != null) out.x = fields.expiresAt;
  return JSON.stringify(out);
}

function checkFields(fields: LinkFields, format: "v1" | "v2"): void {
  if (!fields || !Object.hasOwn(V1_ACT, fields.action)) throw new RangeError(`Unknown link action "${String(fields?.action)}": expected open, initial_open or click`);
  if (typeof fields.msgId !== "string") throw new RangeError("Link msgId must be a string");
  if (fields.rcpt !== null && typeof fields.rcpt !== "string") throw new RangeError("Link rcpt must be a string or null");
  if (fields.action === "click") {
    if (typeof fields.targetUrl !== "string" || !HTTP_TARGET.test(fields.targetUrl)) throw new RangeError(`Click target "${String(fields.targetUrl).slice(0, 80)}" is not an http(s) URL`);
  } else if (fields.targetUrl != null) {
    throw new RangeError(`A ${fields.action} link has no target URL`);
  }
  if (fields.linkName != null && typeof fields.linkName !== "string") throw new RangeError("Link linkName must be a string or null");
  if (fields.expiresAt != null && !(Number.isSafeInteger(fields.expiresAt) && fields.expiresAt >= 0)) throw new RangeError("Link expiresAt must be unix seconds");
  if (format === "v1" && (fields.linkName != null || fields.expiresAt != null)) throw new RangeError("A v1 link cannot carry a link name or an expiry");
}

function parseObject(data: Uint8Array): Record<string, unknown> | null {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch {
    return null;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

function isStringOrNull(value: unknown): boolean {
  return value === null || typeof value === "string";
}

/** Compares two strings in time that depends only on their lengths. */
function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length && i < b.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

function fail(reason: DecodeFailure, message: string): DecodeResult {
  return { ok: false, reason, message };
}

/**
 * Where a click may redirect: the target of a decoded click link, or null for anything else — a refused
 * token, an open or initial_open token (an open token is never a valid click), or a non-http(s) target.
 * @example clickTargetOf(codec.decode(openToken, { now })) // null
 */
export function clickTargetOf(result: DecodeResult): string | null {
  if (!result.ok || result.link.action !== "click") return null;
  const target = result.link.targetUrl;
  return target !== null && HTTP_TARGET.test(target) ? target : null;
}
