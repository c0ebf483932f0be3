/**
 * @module HTTP/1.x on the wire (RFC 9112): the head of a request, parsed from the start of a connection's
 * buffered bytes (as a latin1 string, one character per byte), and the {@link WireForm} of a response laid
 * out in advance. Pure: the tracker's own HTTP server (runtime/wire-serve.ts) feeds the parser and writes
 * the forms.
 *
 * Strict where leniency lets two parsers disagree (request smuggling): fields end with CRLF, no space before
 * a field's colon, no folded lines, one Content-Length. A request with a body is reported as such and never
 * read: the server answers it and closes the connection.
 */

/**
 * A response laid out for the wire by whoever built it, so a server can write it without reading a
 * `Response` back: the tracker's pixel and redirects.
 */
export interface WireForm {
  readonly status: number;
  /** Header lines, each ending in CRLF, without Date, Content-Length or Connection (the server adds them). */
  readonly fields: string;
  /** The body; null for an answer to HEAD. */
  readonly body: Uint8Array | null;
  /** For an answer to HEAD: the Content-Length a GET would get. */
  readonly headLength?: number;
  /** The fields are known to be ASCII: the server writes them as text without looking for latin1. */
  readonly ascii?: boolean;
}

/**
 * How a server that writes bytes lets its handler answer later without a promise: the handler returns
 * {@link ANSWER_LATER} and calls `answer` (or `fail`) once, when it has the answer. The mtatrack server's
 * request is its own responder, so a deferred answer costs no promise, reaction or closure per request.
 */
export interface Responder {
  answer(response: Response | WireForm): void;
  /** The handler could not answer (none is expected by design): the client gets a 500. */
  fail(error: unknown): void;
}

/** What a handler returns when it will answer through the request's {@link Responder}. */
export const ANSWER_LATER: unique symbol = Symbol("answer later");

/**
 * What a handler reads of a request: a web `Request` has it, and so does the light one the mtatrack server
 * builds from a parsed head (one shape for runtime/serve.ts and the tracker's handler).
 */
export interface RequestView {
  readonly method: string;
  readonly url: string;
  /** The request target as sent ("/path?q"), when the server has it: reading the path needs no URL then. */
  readonly target?: string;
  readonly headers: { get(name: string): string | null };
  /** Present when the server lets the handler answer later through it (the mtatrack server). */
  readonly responder?: Responder;
}

export interface HeadLimits {
  /** Longest head (request line, fields, the blank line), in bytes; beyond it the answer is 431. */
  maxHeadBytes: number;
  /** Most header fields. @default 100 */
  maxFields?: number;
}

/** Field values by lower-case name; a repeated field's values joined with ", " (RFC 9110 §5.3). */
export class HeadFields {
  readonly #values = new Map<string, string>();
  get(name: string): string | null {
    return this.#values.get(name.toLowerCase()) ?? null;
  }
  has(name: string): boolean {
    return this.#values.has(name.toLowerCase());
  }
  /** @internal the parser's lookup of a name it knows is lower case */
  getLower(lowerName: string): string | undefined {
    return this.#values.get(lowerName);
  }
  /** @internal the parser's append */
  add(lowerName: string, value: string): void {
    const earlier = this.#values.get(lowerName);
    this.#values.set(lowerName, earlier === undefined ? value : `${earlier}, ${value}`);
  }
}

export interface RequestHead {
  readonly kind: "request";
  readonly method: string;
  /** As sent: origin-form ("/path?q") or absolute-form ("http://host/path"). */
  readonly target: string;
  /** "1.0" or "1.1". */
  readonly version: "1.0" | "1.1";
  readonly fields: HeadFields;
  /** Characters (bytes) of the buffer the head took, blank line included. */
  readonly length: number;
  /** Whether the client asked to keep the connection open (HTTP/1.1 unless "close"; 1.0 only with "keep-alive"). */
  readonly keepAlive: boolean;
  /** A body follows (Content-Length above 0, or any Transfer-Encoding): it is never read. */
  readonly hasBody: boolean;
}

export interface HeadError {
  readonly kind: "error";
  /** 400, 431 or 505. */
  readonly status: 400 | 431 | 505;
  readonly reason: string;
}

export type HeadParse = RequestHead | HeadError | { readonly kind: "incomplete" };

const INCOMPLETE = { kind: "incomplete" } as const;
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Visible ASCII, obs-text, space and tab; no CR, LF or other controls.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const TARGET = /^[\x21-\x7e\x80-\xff]+$/;
const BARE_LF = /(?:^|[^\r])\n/;

const fail = (status: HeadError["status"], reason: string): HeadError => ({ kind: "error", status, reason });

/**
 * Parses the request head at the start of `buffer`.
 *
 * @example
 * parseRequestHead("GET /x HTTP/1.1\r\nHost: t\r\n\r\n", { maxHeadBytes: 16384 }) // → { kind: "request", method: "GET", target: "/x", ... }
 */
export function parseRequestHead(buffer: string, limits: HeadLimits): HeadParse {
  const { maxHeadBytes, maxFields = 100 } = limits;
  // Empty lines before a request line are allowed (RFC 9112 §2.2), a few of them.
  let start = 0;
  while (start < 8 && buffer.startsWith("\r\n", start)) start += 2;
  const end = buffer.indexOf("\r\n\r\n", start);
  if (end < 0) {
    if (buffer.length > maxHeadBytes) return fail(431, "request head too large");
    // Lines ended by a bare LF would never make the CRLF CRLF we wait for: refuse now, not at the head timeout.
    return BARE_LF.test(buffer) ? fail(400, "line ended by a bare LF") : INCOMPLETE;
  }
  const length = end + 4;
  if (length > maxHeadBytes) return fail(431, "request head too large");

  const lineEnd = buffer.indexOf("\r\n", start);
  const line = buffer.slice(start, lineEnd);
  const sp1 = line.indexOf(" ");
  const sp2 = line.indexOf(" ", sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || line.indexOf(" ", sp2 + 1) >= 0) return fail(400, "malformed request line");
  const method = line.slice(0, sp1);
  const target = line.slice(sp1 + 1, sp2);
  const protocol = line.slice(sp2 + 1);
  // GET and HTTP/1.1 are nearly every request: compared before any pattern is run.
  if (method !== "GET" && !METHOD.test(method)) return fail(400, "malformed method");
  if (!TARGET.test(target)) return fail(400, "malformed request target");
  if (protocol !== "HTTP/1.1" && protocol !== "HTTP/1.0") {
    return /^HTTP\/\d\.\d$/.test(protocol) ? fail(505, `${protocol} is not supported`) : fail(400, "malformed protocol version");
  }
  const version = protocol === "HTTP/1.1" ? "1.1" : "1.0";

  const fields = new HeadFields();
  let count = 0;
  let at = lineEnd + 2;
  while (at < end + 2) {
    const next = buffer.indexOf("\r\n", at);
    if (++count > maxFields) return fail(431, "too many header fields");
    const first = buffer.charCodeAt(at);
    if (first === 0x20 || first === 0x09) return fail(400, "folded header field");
    const colon = buffer.indexOf(":", at);
    if (colon <= at || colon > next) return fail(400, "malformed header field");
    const name = buffer.slice(at, colon);
    // Nearly every request has these two, spelled so: compared before any pattern is run or case folded.
    const lowerName = name === "Host" ? "host" : name === "User-Agent" ? "user-agent" : FIELD_NAME.test(name) ? name.toLowerCase() : null;
    if (lowerName === null) return fail(400, "malformed header field name");
    // The value without the optional whitespace around it, which is spaces and tabs only (RFC 9110 §5.6.3):
    // trim() would also take a latin1 NBSP (0xA0) or a vertical tab, which are part of the value (or refused).
    let vs = colon + 1;
    let ve = next;
    while (vs < ve && (buffer.charCodeAt(vs) === 0x20 || buffer.charCodeAt(vs) === 0x09)) vs++;
    while (ve > vs && (buffer.charCodeAt(ve - 1) === 0x20 || buffer.charCodeAt(ve - 1) === 0x09)) ve--;
    const value = buffer.slice(vs, ve);
    if (!FIELD_VALUE.test(value)) return fail(400, "malformed header field value");
    fields.add(lowerName, value);
    at = next + 2;
  }

  if (version === "1.1" && fields.getLower("host") === undefined) return fail(400, "no Host header");
  const contentLength = fields.getLower("content-length");
  let hasBody = fields.getLower("transfer-encoding") !== undefined;
  if (contentLength !== undefined) {
    // Repeated fields arrive joined ("5, 5"): the same value repeated is one length (RFC 9110 §8.6), else refused.
    const lengths = new Set(contentLength.split(",").map((v) => v.trim()));
    const [only] = lengths;
    if (lengths.size !== 1 || !/^\d{1,15}$/.test(only!)) return fail(400, "malformed Content-Length");
    if (Number(only) > 0) hasBody = true;
  }
  const connection = (fields.getLower("connection") ?? "").toLowerCase();
  const tokens = connection === "" ? [] : connection.split(",").map((t) => t.trim());
  const keepAlive = version === "1.1" ? !tokens.includes("close") : tokens.includes("keep-alive");
  return { kind: "request", method, target, version, fields, length, keepAlive, hasBody };
}
