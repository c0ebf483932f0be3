/**
 * @module The public surface of the message rewriter (issue 7), the part of `wrapper` the SMTP proxy pipes
 * every DATA body through. The proxy codes against these types only; `message-rewriter.ts` implements them.
 *
 * Contract in one paragraph: `rewrite(input, envelope)` reads the whole message (spooled in memory up to a
 * bound, then in a temp file), rewrites it into a second spool, and resolves with a {@link RewrittenMessage}
 * whose bytes are either the complete rewrite or, after any failure, the original bytes unmodified. It never
 * resolves with partial output. It rejects only when the input itself cannot be read or spooled (the client
 * went away, the disk is full): then there is no complete message to relay and the proxy answers 4xx.
 */
import type { Readable } from "node:stream";
import type { LinkCodec, LinkEncoding } from "../core/link-codec.ts";
import type { Logger } from "../log.ts";

/** Tracking switches: the operator's global flags, narrowed per message by the control headers. */
export interface TrackingOptions {
  /** Open pixel right before `</body>` (or at the end of HTML without `</body>`). @default true */
  trackOpen: boolean;
  /** initial_open pixel right after `<body…>`. @default false */
  trackInitialOpen: boolean;
  /** Rewrite `<a href>`, `<area href>` and VML `href` to tracked links. @default false (as the original) */
  trackClick: boolean;
  /** Also rewrite http(s) links in `text/plain` parts (found by linkify-it). @default false */
  trackText: boolean;
  /** Rewrite messages that already carry a `DKIM-Signature` (which breaks it). @default false */
  trackSigned: boolean;
}

/** Operator settings that are not per-message switches. */
export interface RewriterSettings {
  /** Token format of new links. @default "v2" */
  linkFormat: LinkEncoding;
  /** Put the envelope recipient into links (v1 always carries the field, empty when false). @default true */
  rcptInLinks: boolean;
  /** v2 links expire this many seconds after the rewrite; null = never. @default null */
  linkTtlSeconds: number | null;
  /** Bytes of each spool (input and output) kept in memory before it moves to a temp file. @default 1 MiB */
  spoolMemoryBytes: number;
  /** Directory of spool files. @default os.tmpdir() */
  spoolDir: string | null;
  /** Largest HTML or text part (encoded bytes) rewritten in memory; a larger one makes the message fall back. @default 16 MiB */
  maxPartBytes: number;
  /** Most links tracked in one message (each costs a deflate and an HMAC); later ones are left as they are. @default 10000 */
  maxLinks: number;
  /** Which HTML tokenizer does the work: the fast scanner, or parse5 (the reference, slower). @default "scan" */
  htmlEngine: "scan" | "parse5";
}

/** Prometheus-style counters, implemented by the caller (prom-client in the command). All optional. */
export interface RewriterMetrics {
  /** Called once per message with its summary. */
  message?(summary: RewriteSummary): void;
}

/** What {@link createMessageRewriter} needs. */
export interface MessageRewriterDeps {
  codec: LinkCodec;
  /** Base of tracked links, e.g. `https://track.example.com` (a path prefix is kept). "" = pass-through. */
  trackingUrl: string;
  options?: Partial<TrackingOptions>;
  settings?: Partial<RewriterSettings>;
  log?: Logger;
  /** New `X-Sp-Message-Id` values. @default 20 lowercase hex per original §2.5 (time + random) */
  newMessageId?: () => string;
  /** Clock for link expiry, unix milliseconds. @default Date.now */
  now?: () => number;
  metrics?: RewriterMetrics;
}

/** Per-message facts the proxy knows from the SMTP envelope. */
export interface Envelope {
  /** The recipient this copy is for (RCPT TO); null leaves it out of links. */
  rcpt: string | null;
  /** Force this `X-Sp-Message-Id` when the message has none (tests, per-recipient fan-out). */
  messageId?: string;
}

/**
 * What happened to one message.
 * - `rewritten`: the output differs from the input (headers and/or parts).
 * - `unchanged`: deliberately passed through byte for byte (`reason` says why: "pass-through", "dkim-signed").
 * - `fallback`: something failed; the output is the input unmodified and `reason` says what failed.
 */
export interface RewriteSummary {
  outcome: "rewritten" | "unchanged" | "fallback";
  /** null when rewritten; otherwise a short machine-readable code, e.g. "dkim-signed", "undecodable-part". */
  reason: string | null;
  /** Human detail for the log line of a fallback. */
  detail: string | null;
  /** The message's `X-Sp-Message-Id` (reused or added); null when the message went out untouched without one. */
  messageId: string | null;
  /** Links rewritten to tracked links (HTML and text). */
  links: number;
  /** Links seen but deliberately not tracked (mailto:, opt-out, unsubscribe, …). */
  skippedLinks: number;
  /** Pixels inserted. */
  pixels: number;
  /** Parts whose body was rewritten. */
  partsRewritten: number;
  bytesIn: number;
  bytesOut: number;
}

/** The result of one rewrite: the bytes to relay and what was done. Call `close()` when relayed. */
export interface RewrittenMessage {
  readonly summary: RewriteSummary;
  /** Length of the bytes to relay. */
  readonly size: number;
  /** A fresh stream of the bytes to relay; may be called more than once (e.g. a retry). */
  stream(): Readable;
  /** The bytes to relay, in one buffer: for tests and small messages. */
  bytes(): Promise<Uint8Array>;
  /** Frees the spools (deletes temp files). Idempotent. */
  close(): Promise<void>;
}

/** The handle returned by {@link createMessageRewriter}. */
export interface MessageRewriter {
  /** See the module header. Never rejects because of message content. */
  rewrite(input: Readable | AsyncIterable<Uint8Array>, envelope: Envelope): Promise<RewrittenMessage>;
  /** Nothing long-lived is held; present for the service shape. */
  close(): Promise<void>;
}
