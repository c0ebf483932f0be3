/**
 * @module The tracker's HTTP handler: a web-standard `(Request, { remoteAddress }) → Response` function,
 * testable without a socket. `GET /<token>` answers the pixel (opens) or a 302 (clicks) after the event is
 * durable (in the store's queue, or in the local spool when the store fails); `HEAD` answers the same
 * without a body and without an event; `/robots.txt`, `/healthz` and `/metrics` are the only other paths.
 */
import { parseAddress, type CidrSet, type ParsedAddress } from "../core/cidr-set.ts";
import { resolveClientAddress, truncateAddress, type TruncateOptions } from "../core/client-address.ts";
import type { DecodeFailure, DecodedLink, LinkCodec } from "../core/link-codec.ts";
import type { MachineClassifier } from "../core/machine-verdict.ts";
import { ANSWER_LATER, type RequestView, type Responder, type WireForm } from "../core/http1-head.ts";
import { buildTrackingEvent, eventIdFromBytes } from "../core/tracking-event.ts";
import { silentLogger, type Logger } from "../log.ts";
import type { EventSink, EventWaiter } from "./event-sink.ts";
import type { MessageMemory } from "./message-memory.ts";
import type { EventOutcome, RequestAction, TrackerMetrics } from "./metrics.ts";

/** The 44-byte transparent GIF of the original, byte for byte (reference §3, including the trailing 00). */
export const TRANSPARENT_GIF: Uint8Array<ArrayBuffer> = Uint8Array.from(
  "47494638396101000100800000ffffffffffff21f904010a0001002c00000000010001000002024c01003b00".match(/../g)!.map((h) => parseInt(h, 16)),
);

export const ROBOTS_TXT = "User-agent: *\nDisallow: /\n";

/** What the runtime knows about the connection. */
export interface ConnInfo {
  /** The socket peer's address, without port; "" when unknown (a unix socket). */
  remoteAddress: string;
}

/** What the handler reads of a request: a web `Request` has it, and so does a light one from our own server. */
export type TrackerRequest = RequestView;

/** Answers synchronously when it can (robots, refusals, HEAD), else once the hit's event is durable. */
export type TrackerHandler = (req: TrackerRequest, info: ConnInfo) => Response | Promise<Response>;

/**
 * The same handler for a server that writes bytes (runtime/wire-serve.ts): pixels and redirects come as
 * their {@link WireForm}, laid out once, instead of a Response the server would have to read back; and when
 * the request has a responder, a hit is answered through it once its event is durable ({@link ANSWER_LATER}).
 */
export type TrackerWireHandler = (req: TrackerRequest, info: ConnInfo) => Response | WireForm | Promise<Response | WireForm> | typeof ANSWER_LATER;

export interface TrackerHandlerDeps {
  codec: LinkCodec;
  sink: EventSink;
  memory: MessageMemory;
  classify: MachineClassifier;
  /** Proxies whose X-Real-IP / Forwarded / X-Forwarded-For are believed. */
  trustedProxies: CidrSet;
  /** Privacy truncation of the address stored in events; null keeps it whole. @default null */
  ipTruncate?: TruncateOptions | null;
  /** The `Server` header of every response. @default "msys-http" (SparkPost's, as the original) */
  serverHeader?: string;
  metrics?: TrackerMetrics | null;
  /** Answer `/metrics` here (false when it has a listener of its own). @default true */
  serveMetrics?: boolean;
  /** Store reachability for `/healthz`. */
  health?: () => Promise<void>;
  /** Longest request URL accepted (414 beyond); the request target, when the server hands it over. @default 8192 */
  maxUrlLength?: number;
  now?: () => number;
  /** Random bytes for event ids. @default crypto.getRandomValues */
  randomBytes?: (n: number) => Uint8Array;
  log?: Logger;
}

/** Malformed tokens are a client's mistake (400); well-formed ones we refuse to honour are unknown (404). */
const badRequestReasons: ReadonlySet<DecodeFailure> = new Set(["malformed", "too-long", "inflate-cap"]);

/**
 * Creates the handler.
 *
 * @example
 * const handle = createTrackerHandler({ codec, sink, memory, classify, trustedProxies: createCidrSet(["loopback"]) });
 * const res = await handle(new Request(`http://t/${token}`), { remoteAddress: "127.0.0.1" });
 */
export function createTrackerHandler(deps: TrackerHandlerDeps): TrackerHandler {
  // Without wire forms every answer is a Response.
  return buildHandler(deps, false) as TrackerHandler;
}

/** Creates the handler for a server that writes bytes: the same answers, pixels and redirects as wire forms. */
export function createTrackerWireHandler(deps: TrackerHandlerDeps): TrackerWireHandler {
  return buildHandler(deps, true);
}

type Answer = Response | WireForm;

function buildHandler(deps: TrackerHandlerDeps, wire: boolean): TrackerWireHandler {
  const { codec, sink, memory, classify, trustedProxies, ipTruncate = null, serverHeader = "msys-http", metrics = null,
    serveMetrics = true, health, maxUrlLength = 8192, now = Date.now, log = silentLogger } = deps;
  const randomBytes = deps.randomBytes ?? ((n: number) => crypto.getRandomValues(new Uint8Array(n)));
  // Event ids are made 512 at a time from one draw of random bytes: one system call instead of one per hit,
  // and the formatting in one tight loop, which cost a hit half a microsecond less than one call per hit
  // (in-process A/B, BENCHMARKS.md, tracker, session 10).
  let ids: string[] = [];
  let idAt = 0;
  const nextEventId = () => {
    if (idAt >= ids.length) {
      const bytes = randomBytes(8 * 512);
      ids = [eventIdFromBytes(bytes, 0)]; // throws when the draw is short: never an id of fewer bytes
      for (let at = 8; at + 8 <= bytes.length; at += 8) ids.push(eventIdFromBytes(bytes, at));
      idAt = 0;
    }
    return ids[idAt++]!;
  };

  // Peers repeat (the proxy in front, or a few clients): parse each address text once.
  const peers = new Map<string, ParsedAddress | string>();
  const peerAddress = (text: string): ParsedAddress | string => {
    let parsed = peers.get(text);
    if (parsed === undefined) {
      if (peers.size >= 10_000) peers.clear();
      parsed = parseAddress(text) ?? text;
      peers.set(text, parsed);
    }
    return parsed;
  };

  const clientAddressOptions = { trusted: trustedProxies };

  // consola drops a debug line below its level, but the line's text would still be built for every hit.
  const debugEnabled = (log.level ?? 5) >= 4;

  const base = { Server: serverHeader, "X-Robots-Tag": "noindex, nofollow" };
  const empty = (status: number, extra: Record<string, string> = {}) => new Response(null, { status, headers: { ...base, ...extra } });
  const gifHeaders = { ...base, "Content-Type": "image/gif", "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0", Pragma: "no-cache", Expires: "0" };
  // Built once: a Response copies its init headers, and from a Headers object that copy costs half of
  // converting a plain object on every hit (0.35 against 0.75 µs per Response under Bun).
  const pixelInit = { status: 200, headers: new Headers(gifHeaders) };
  const pixelHeadInit = { status: 200, headers: new Headers({ ...gifHeaders, "Content-Length": "44" }) };
  // A Blob is immutable, so every pixel response shares its bytes instead of wrapping the array anew.
  const gifBlob = new Blob([TRANSPARENT_GIF], { type: "image/gif" });
  const redirectHeaders = { ...base, "Content-Type": "text/plain", "Cache-Control": "no-store, max-age=0" };
  // The same answers laid out for the wire, once.
  const gifFields = fieldLines(gifHeaders);
  const pixelForm: WireForm = { status: 200, fields: gifFields, body: TRANSPARENT_GIF };
  const pixelHeadForm: WireForm = { status: 200, fields: gifFields, body: null, headLength: TRANSPARENT_GIF.length };
  const redirectFields = fieldLines(redirectHeaders);
  // A Server header may carry latin1; the rest of a redirect's fields, Location included, are ASCII.
  const redirectAscii = /^[\x00-\x7f]*$/.test(redirectFields);
  const pixel = (head: boolean): Answer => {
    if (wire) return head ? pixelHeadForm : pixelForm;
    return head ? new Response(null, pixelHeadInit) : new Response(gifBlob, pixelInit);
  };
  const redirectInit = { status: 302, headers: new Headers(redirectHeaders) };
  // The fixed headers copied from a prebuilt Headers, then Location set: 0.55 against 0.89 µs for an object literal.
  const redirect = (location: string): Answer => {
    // safeLocation() let through printable ASCII only: no CR or LF can end the field early.
    if (wire) return { status: 302, fields: `${redirectFields}Location: ${location}\r\n`, body: null, ascii: redirectAscii };
    const response = new Response(null, redirectInit);
    response.headers.set("Location", location);
    return response;
  };

  /** What a request was and its answer. */
  type Routed = readonly [RequestAction, Answer];

  /** Told when a hit's event is durable, or that the hit could not be recorded (none is expected by design). */
  interface HitWaiter extends EventWaiter {
    failed(err: unknown): void;
  }

  /**
   * A hit's answer, written through the server's responder once the event is durable: the wire server's hot
   * path, with no promise, reaction or closure per hit (the sink tells a batch's waiters in one loop).
   */
  class AnswerWhenDurable implements HitWaiter {
    constructor(private readonly action: RequestAction, private readonly response: Answer, private readonly t0: number,
      private readonly req: TrackerRequest, private readonly responder: Responder) {}
    settled(): void {
      try {
        this.responder.answer(finish(this.action, this.response, this.t0));
      } catch (err) {
        this.failed(err);
      }
    }
    failed(err: unknown): void {
      this.responder.answer(finish("other", failed(this.req.method, this.req, err), this.t0));
    }
  }

  /**
   * The answer at once (the caller finishes it), a promise of the finished answer, or {@link ANSWER_LATER}
   * (through the request's responder). Most hits are answered without an async function or a promise per
   * hit: the event's submission tells a waiter, and a promise is made only for a store call when this process
   * has not seen the message, or for a server without a responder.
   */
  function route(req: TrackerRequest, info: ConnInfo, head: boolean, started: number, t0: number): Routed | Promise<Answer> | typeof ANSWER_LATER {
    // The mtatrack server hands over the origin-form target as sent ("/token"): the URL is never built.
    const target = req.target;
    const url = target !== undefined && target.charCodeAt(0) === 0x2f ? target : req.url;
    if (url.length > maxUrlLength) return ["invalid", empty(414)];
    // The path is everything between the authority and "?"/"#": cheaper than new URL() on the hot path.
    const pathStart = url === target ? 0 : url.indexOf("/", url.indexOf("//") + 2);
    let pathEnd = url.length;
    const q = url.indexOf("?", pathStart);
    if (q >= 0) pathEnd = q;
    const h = url.indexOf("#", pathStart);
    if (h >= 0 && h < pathEnd) pathEnd = h;
    const path = pathStart < 0 ? "/" : url.slice(pathStart, pathEnd);

    if (path === "/robots.txt") {
      return ["robots", new Response(head ? null : ROBOTS_TXT, { headers: { ...base, "Content-Type": "text/plain; charset=utf-8" } })];
    }
    if (path === "/healthz") return finishLater(req, healthz(head), t0);
    if (path === "/metrics" && serveMetrics && metrics) return finishLater(req, metricsPage(metrics, head), t0);
    // Exactly one non-empty segment, as the original: "/", "/a/b" and "/a/" are 400.
    if (path.length < 2 || path.indexOf("/", 1) >= 0) return ["invalid", empty(400)];
    let token = path.slice(1);
    if (token.includes("%")) {
      try {
        token = decodeURIComponent(token); // some clients escape the v1 padding "="
      } catch {
        return ["invalid", empty(400)];
      }
    }
    const decoded = codec.decode(token, { now: started });
    if (!decoded.ok) {
      log.debug(`Refused token (${decoded.reason}): ${decoded.message}`);
      return ["invalid", empty(badRequestReasons.has(decoded.reason) ? 400 : 404)];
    }
    const link = decoded.link;
    let location: string | null = null;
    if (link.action === "click") {
      location = safeLocation(link.targetUrl);
      // The codec lets only http(s) targets through; one that still cannot be a header value is refused.
      if (location === null) return ["invalid", empty(404)];
    }
    const response = location === null ? pixel(head) : redirect(location);
    const action = link.action;
    if (head) {
      // A HEAD is a prefetcher or a link checker: answered like GET, never an event.
      metrics?.machine("head-request");
      return [action, response];
    }
    const responder = wire ? req.responder : undefined;
    if (responder !== undefined) {
      recordHit(req, info, link, started, new AnswerWhenDurable(action, response, t0, req, responder));
      return ANSWER_LATER;
    }
    return new Promise<Answer>((resolve) =>
      recordHit(req, info, link, started, {
        settled: () => resolve(finish(action, response, t0)),
        failed: (err) => resolve(finish("other", failed(req.method, req, err), t0)),
      }));
  }

  async function healthz(head: boolean): Promise<Routed> {
    const headers = { ...base, "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" };
    try {
      await health?.();
      return ["healthz", new Response(head ? null : "ok\n", { headers })];
    } catch (err) {
      return ["healthz", new Response(head ? null : `store unreachable: ${(err as Error).message}\n`, { status: 503, headers })];
    }
  }

  async function metricsPage(m: TrackerMetrics, head: boolean): Promise<Routed> {
    const { body, contentType } = await m.render();
    return ["metrics", new Response(head ? null : body, { headers: { ...base, "Content-Type": contentType, "Cache-Control": "no-store" } })];
  }

  /** Records the hit: `waiter` is told once its event is durable (queued or spooled). */
  function recordHit(req: TrackerRequest, info: ConnInfo, link: DecodedLink, ts: number, waiter: HitWaiter): void {
    const client = resolveClientAddress(peerAddress(info.remoteAddress), req.headers, clientAddressOptions);
    const address = client?.address ?? null;
    const userAgent = req.headers.get("user-agent") ?? "";
    if (link.action === "click") {
      const first = memory.isFirst(link.action, link.msgId, ts);
      const since = memory.sinceFirstEvent(link.msgId, ts);
      // A repeated click (most clicks under load) knows both at once: no wait for the store.
      if (typeof first === "boolean" && !(since instanceof Promise)) return submitHit(link, ts, address, userAgent, first, since, waiter);
      Promise.all([first, since]).then(([f, s]) => submitHit(link, ts, address, userAgent, f, s, waiter)).catch((err) => waiter.failed(err));
      return;
    }
    const first = memory.isFirst(link.action, link.msgId, ts);
    // A repeated open (most hits) knows its flag at once: no wait for the store.
    if (typeof first === "boolean") return submitHit(link, ts, address, userAgent, first, null, waiter);
    first.then((f) => submitHit(link, ts, address, userAgent, f, null, waiter)).catch((err) => waiter.failed(err));
  }

  function submitHit(link: DecodedLink, ts: number, address: ParsedAddress | null, userAgent: string, first: boolean, since: number | null, waiter: HitWaiter): void {
    if (link.action !== "click" && first) memory.noteEvent(link.msgId, ts);
    const verdict = classify({ method: "GET", action: link.action, userAgent, address, msSinceFirstEvent: since });
    if (verdict.reason) metrics?.machine(verdict.reason);
    const ip = address ? (ipTruncate ? truncateAddress(address, ipTruncate) : address.text) : "";
    const event = buildTrackingEvent(link, { ts, ip, userAgent }, { eventId: nextEventId(), verdict, first });
    const body = JSON.stringify(event);
    // The line is built only when it will be written: at the usual levels this runs for every hit.
    if (!debugEnabled) return sink.submitThen(body, waiter);
    sink.submitThen(body, {
      settled(outcome: EventOutcome) {
        log.debug(`${event.type} msg ${event.msg_id} ip ${ip} machine ${verdict.reason ?? "no"} first ${first}: ${outcome}`);
        waiter.settled(outcome);
      },
    });
  }

  const finish = (action: RequestAction, response: Answer, t0: number): Answer => {
    metrics?.request(action, response.status, (performance.now() - t0) / 1000);
    return response;
  };
  /** Finishes a routed promise in its one reaction; a rejection (none is expected by design) still gets an answer. */
  const finishLater = (req: TrackerRequest, routed: Promise<Routed>, t0: number): Promise<Answer> =>
    routed.then(([action, response]) => finish(action, response, t0), (err) => finish("other", failed(req.method, req, err), t0));
  const failed = (method: string, req: TrackerRequest, err: unknown): Response => {
    // Nothing in route() throws by design; if something does, the recipient still gets an answer.
    log.error(`Unexpected error answering ${method} ${req.url.slice(0, 200)}: ${(err as Error)?.stack ?? err}`);
    return empty(500);
  };

  return function handleTrackerRequest(req, info) {
    const started = now();
    const t0 = performance.now();
    const method = req.method;
    if (method !== "GET" && method !== "HEAD") return finish("other", empty(405, { Allow: "GET, HEAD", "Content-Type": "text/plain" }), t0);
    let routed: Routed | Promise<Answer> | typeof ANSWER_LATER;
    try {
      routed = route(req, info, method === "HEAD", started, t0);
    } catch (err) {
      return finish("other", failed(method, req, err), t0);
    }
    return routed === ANSWER_LATER || routed instanceof Promise ? routed : finish(routed[0], routed[1], t0);
  };
}

/** Header fields as wire lines ("Name: value\r\n"). */
function fieldLines(headers: Record<string, string>): string {
  return Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
}

/** The target as a header value: as is when it is printable ASCII, else WHATWG-serialised (percent-encoded, punycode). */
function safeLocation(target: string | null): string | null {
  if (!target) return null;
  if (/^[\x21-\x7e]+$/.test(target)) return target;
  try {
    const href = new URL(target).href;
    return /^https?:\/\/[\x21-\x7e]+$/i.test(href) ? href : null;
  } catch {
    return null;
  }
}
