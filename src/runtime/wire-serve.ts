/**
 * @module The tracker's own HTTP/1.1 server on `Bun.listen`: keep-alive, pipelining in order, back-pressure,
 * limits and timeouts, graceful close. It exists for speed. `Bun.serve` costs a `getpeername` system call
 * on every request (`requestIP`; Bun keeps no per-connection address) plus a `Request` and the conversion
 * of every `Response`; here the peer is read once per connection, the handler gets a light request, and
 * may answer with bytes laid out in advance (a {@link WireForm}: the tracker's pixel and redirects)
 * instead of a Response.
 * BENCHMARKS.md, tracker, session 8, has the figures.
 *
 * What it serves is deliberately narrow, enough for the tracker (GET and HEAD, no request bodies):
 * - A request with a body (Content-Length above 0 or any Transfer-Encoding) is answered, then the connection
 *   is closed: the body is never read, so no body can be mistaken for the next request.
 * - A malformed head gets 400 (431 when too large, 505 for another HTTP version) and the connection closes.
 * - A head not complete within `headTimeoutSeconds` of its first byte gets 408 (slow-header clients).
 */
import { ANSWER_LATER, parseRequestHead, type HeadFields, type RequestHead, type Responder, type WireForm } from "../core/http1-head.ts";
import { bindHost, listenUrl, type ServeConnInfo, type ServeHandle, type ServeOptions, type ServeRequest } from "./serve.ts";

/**
 * A handler that may answer with a Response or with bytes laid out in advance (a {@link WireForm}), or later
 * through `req.responder` when it returns {@link ANSWER_LATER}.
 */
export type WireHandler = (req: ServeRequest, info: ServeConnInfo) => Response | WireForm | Promise<Response | WireForm> | typeof ANSWER_LATER;

export interface WireServeOptions extends ServeOptions {
  /** Longest request head accepted (431 beyond). @default 16384 */
  maxHeadBytes?: number;
  /** A request head must be complete this long after its first byte (else 408). @default 10 */
  headTimeoutSeconds?: number;
  /** Requests answered out of one connection's pipeline before reading more of it. @default 32 */
  maxPipelined?: number;
}

/** The Host field when it is a plain host[:port], else "localhost": a URL's authority never comes out malformed. */
function authority(fields: HeadFields): string {
  const host = fields.get("host");
  return host && /^[A-Za-z0-9.\-:[\]]+$/.test(host) ? host : "localhost";
}

interface BunSocket {
  data: Conn;
  readonly remoteAddress: string;
  write(data: string | Uint8Array): number;
  end(): void;
  terminate(): void;
  pause?(): void;
  resume?(): void;
}
interface BunListener {
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}
interface BunListenLike {
  listen(opts: {
    hostname: string;
    port: number;
    tls?: { cert: string; key: string };
    reusePort?: boolean;
    socket: {
      open(s: BunSocket): void;
      data(s: BunSocket, chunk: Buffer): void;
      drain(s: BunSocket): void;
      close(s: BunSocket): void;
      error(s: BunSocket, err: Error): void;
    };
  }): BunListener;
}

/** One queued answer on a connection, in request order; `out` is null until it is ready. */
interface Slot {
  out: Out | null;
}
/** How a request answered later gets its answer written: the server's side of {@link WireRequest}. */
interface LaterAnswers {
  answered(req: WireRequest, response: Response | WireForm): void;
  failed(req: WireRequest, error: unknown): void;
}

/**
 * The request the handler sees: what it reads of a web `Request`, plus the target as sent. The URL is built
 * only when read (the tracker reads the target): `scheme` null means the target is already absolute. It is
 * also the request's responder and, when answered later, its slot in the connection's queue: one object per
 * request however it is answered.
 */
class WireRequest implements ServeRequest, Responder, Slot {
  readonly method: string;
  readonly target: string;
  readonly headers: HeadFields;
  out: Out | null = null;
  /** In its connection's queue, so its answer is written from there once `out` is set. */
  queued = false;
  #url: string | null = null;
  #settled = false;
  constructor(readonly head: RequestHead, private readonly scheme: string | null, readonly conn: Conn, readonly close: boolean, private readonly later: LaterAnswers) {
    this.method = head.method;
    this.target = head.target;
    this.headers = head.fields;
  }
  get url(): string {
    return (this.#url ??= this.scheme === null ? this.target : `${this.scheme}://${authority(this.headers)}${this.target}`);
  }
  get responder(): Responder {
    return this;
  }
  answer(response: Response | WireForm): void {
    if (this.#settled) return;
    this.#settled = true;
    this.later.answered(this, response);
  }
  fail(error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.later.failed(this, error);
  }
}
interface Out {
  readonly bytes: string | Uint8Array;
  readonly close: boolean;
  /** `bytes` is text known to be ASCII (no latin1 to encode). */
  readonly ascii?: boolean;
}
interface Conn {
  socket: BunSocket;
  /** What the handler is told of the connection: its peer, read once (the same object for every request). */
  info: ServeConnInfo;
  /** Received bytes not yet parsed, one character per byte. */
  buffer: string;
  /** When the head now in `buffer` began (ms), for the head timeout; 0 when the buffer is empty. */
  headSince: number;
  /** When the client last sent bytes or took written ones (ms), for the idle timeout. */
  lastActive: number;
  /** Answers waiting on earlier ones or on the handler. */
  queue: Slot[];
  /** Bytes the socket did not take yet. */
  backlog: Uint8Array[];
  /** No more requests are read: the last answer closes the connection. */
  closing: boolean;
  paused: boolean;
  gone: boolean;
}

const REASONS: Record<number, string> = {
  200: "OK", 204: "No Content", 302: "Found", 304: "Not Modified", 400: "Bad Request", 404: "Not Found",
  405: "Method Not Allowed", 408: "Request Timeout", 413: "Content Too Large", 414: "URI Too Long",
  431: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};
/** Headers this server writes itself. */
const OWN_FIELDS = new Set(["content-length", "connection", "date", "transfer-encoding", "keep-alive"]);
const latin1 = (text: string) => Buffer.from(text, "latin1");

/**
 * Starts the server; resolves once the port is bound. Only under Bun (`Bun.listen`).
 * @throws {Error} when the address cannot be bound.
 */
export async function serveWire(handler: WireHandler, opts: WireServeOptions): Promise<ServeHandle> {
  const Bun = (globalThis as unknown as { Bun?: BunListenLike }).Bun;
  if (!Bun) throw new Error("The mtatrack HTTP server needs Bun (Bun.listen)");
  const { port, tls = null, idleTimeoutSeconds = 10, onError, reusePort = false, maxHeadBytes = 16 * 1024,
    headTimeoutSeconds = 10, maxPipelined = 32 } = opts;
  const conns = new Set<Conn>();
  let stopping = false;

  // The Date field changes once a second: built then, not per response.
  let dateSecond = -1;
  let dateField = "";
  const dateNow = () => {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== dateSecond) {
      dateSecond = second;
      dateField = `Date: ${new Date(second * 1000).toUTCString()}\r\n`;
    }
    return dateField;
  };
  // The last constant form written, per connection-field variant: a pixel is the same bytes all second long.
  const lastBytes = new Map<string, { form: WireForm; date: string; bytes: Uint8Array }>();

  const report = (err: unknown) => {
    try {
      onError?.(err);
    } catch {
      // The report must not take the connection's answer with it.
    }
  };

  const layout = (form: WireForm, head: boolean, close: boolean, version: string): Out => {
    const connection = close ? "Connection: close\r\n" : version === "1.0" ? "Connection: keep-alive\r\n" : "";
    const date = dateNow();
    const noBody = form.status === 204 || form.status === 304;
    if (form.body !== null && !head && !noBody) {
      const cached = lastBytes.get(connection);
      if (cached && cached.form === form && cached.date === date) return { bytes: cached.bytes, close };
      const top = latin1(`HTTP/1.1 ${form.status} ${REASONS[form.status] ?? "Unknown"}\r\n${date}${form.fields}Content-Length: ${form.body.length}\r\n${connection}\r\n`);
      const bytes = new Uint8Array(top.length + form.body.length);
      bytes.set(top);
      bytes.set(form.body, top.length);
      lastBytes.set(connection, { form, date, bytes });
      return { bytes, close };
    }
    // No body here: a GET's is empty; a HEAD's length is the one the handler declared, if it did.
    const length = noBody || (head && form.headLength === undefined) ? "" : `Content-Length: ${head ? form.headLength : 0}\r\n`;
    return { bytes: `HTTP/1.1 ${form.status} ${REASONS[form.status] ?? "Unknown"}\r\n${date}${form.fields}${length}${connection}\r\n`, close, ascii: form.ascii === true };
  };

  /** Any Response as a WireForm: its headers read, its body awaited. */
  const generic = (response: Response, head: boolean): WireForm | Promise<WireForm> => {
    let fields = "";
    let declared: number | undefined;
    let typed = false;
    response.headers.forEach((value, name) => {
      if (name === "content-length") declared = Number(value);
      if (name === "content-type") typed = true;
      if (!OWN_FIELDS.has(name)) fields += `${name}: ${value}\r\n`;
    });
    const status = response.status;
    if (response.body === null || head) {
      // A HEAD answer's body is dropped unread; its length is the one the handler declared.
      if (response.body !== null) void response.body.cancel().catch(() => {});
      return { status, fields, body: null, ...(head && declared !== undefined ? { headLength: declared } : {}) };
    }
    // A body given as text or a Blob carries its type on the body, not in the headers (as Bun.serve writes it).
    return response.blob().then(async (blob) => ({
      status,
      fields: typed || !blob.type ? fields : `${fields}content-type: ${blob.type}\r\n`,
      body: new Uint8Array(await blob.arrayBuffer()),
    }));
  };

  const answer = (response: Response | WireForm, head: RequestHead, close: boolean): Out | Promise<Out> => {
    const isHead = head.method === "HEAD";
    const version = head.version;
    const form = response instanceof Response ? generic(response, isHead) : response;
    return form instanceof Promise ? form.then((f) => layout(f, isHead, close, version)) : layout(form, isHead, close, version);
  };
  const bare = (status: number): Out =>
    layout({ status, fields: "Content-Type: text/plain\r\n", body: null }, false, true, "1.1");

  const write = (c: Conn, out: Out) => {
    if (c.gone) return;
    let data = typeof out.bytes === "string" && !out.ascii && /[^\x00-\x7f]/.test(out.bytes) ? latin1(out.bytes) : out.bytes;
    if (c.backlog.length === 0) {
      const written = c.socket.write(data);
      const size = typeof data === "string" ? data.length : data.byteLength;
      if (written < size) {
        if (typeof data === "string") data = latin1(data);
        c.backlog.push(data.subarray(Math.max(0, written)));
      }
    } else c.backlog.push(typeof data === "string" ? latin1(data) : data);
    if (out.close) c.closing = true;
  };

  /** Writes the ready answers at the head of the queue; then ends, or reads on. */
  const flush = (c: Conn) => {
    while (c.queue.length > 0 && c.queue[0]!.out !== null) {
      const out = c.queue.shift()!.out!;
      write(c, out);
      // Nothing may follow an answer that said Connection: close.
      if (out.close) c.queue.length = 0;
    }
    settle(c);
  };
  const settle = (c: Conn) => {
    if (c.gone) return;
    const idle = c.queue.length === 0 && c.backlog.length === 0;
    if (c.closing || stopping) {
      if (idle) {
        c.gone = true;
        c.socket.end();
      }
      return;
    }
    if (c.paused && c.queue.length < maxPipelined && c.backlog.length === 0) {
      c.paused = false;
      c.socket.resume?.();
      readRequests(c);
    }
  };

  /** Writes a ready answer now when none is owed before it, else queues it behind them. */
  const enqueue = (c: Conn, out: Out) => {
    if (c.queue.length === 0) write(c, out);
    else c.queue.push({ out });
  };

  /** A request's answer is ready: written now if the answers before it are. */
  const settleSlot = (req: WireRequest, out: Out) => {
    req.out = out;
    if (req.queued) flush(req.conn);
  };
  const later: LaterAnswers = {
    answered(req, response) {
      const out = answer(response, req.head, req.close);
      if (out instanceof Promise) out.then((o) => settleSlot(req, o), (err) => this.failed(req, err));
      else settleSlot(req, out);
    },
    failed(req, err) {
      report(err);
      settleSlot(req, bare(500));
    },
  };

  const scheme = tls ? "https" : "http";

  /** Hands one request to the handler; true when its answer closes the connection. */
  const serveOne = (c: Conn, head: RequestHead): boolean => {
    const target = head.target;
    // A body is never read: answer, then close, so it is not taken for the next request.
    const close = !head.keepAlive || head.hasBody;
    let request: WireRequest;
    if (target.charCodeAt(0) === 0x2f) request = new WireRequest(head, scheme, c, close, later);
    else if (/^https?:\/\/[^/?#]+/i.test(target)) request = new WireRequest(head, null, c, close, later);
    else {
      enqueue(c, bare(400));
      return true;
    }
    let result: ReturnType<WireHandler>;
    try {
      result = handler(request, c.info);
    } catch (err) {
      report(err);
      enqueue(c, bare(500));
      return true;
    }
    // Every answer goes through the request, however the handler gives it: at once, as a promise (laid out
    // and written in that promise's one reaction: a reaction per hit is measurable, BENCHMARKS.md, tracker,
    // session 10), or later through the request as its responder.
    if (result instanceof Promise) result.then((response) => request.answer(response), (err) => request.fail(err));
    else if (result !== ANSWER_LATER) request.answer(result);
    // Answered by now (laid out), or queued for when it is.
    if (request.out !== null) enqueue(c, request.out);
    else {
      request.queued = true;
      c.queue.push(request);
    }
    return close;
  };

  const readRequests = (c: Conn) => {
    while (!c.closing && !stopping && c.buffer.length > 0) {
      if (c.queue.length >= maxPipelined || c.backlog.length > 0) {
        // Enough answers owed on this connection: stop reading it until they are written.
        c.paused = true;
        c.socket.pause?.();
        return;
      }
      const parsed = parseRequestHead(c.buffer, { maxHeadBytes });
      if (parsed.kind === "incomplete") return;
      if (parsed.kind === "error") {
        c.buffer = "";
        enqueue(c, bare(parsed.status));
        c.closing = true;
        break;
      }
      c.buffer = c.buffer.length === parsed.length ? "" : c.buffer.slice(parsed.length);
      c.headSince = c.buffer.length > 0 ? Date.now() : 0;
      if (serveOne(c, parsed)) c.closing = true;
    }
    settle(c);
  };

  const handlers = {
    open(socket: BunSocket) {
      // Read once: every request of the connection has this peer.
      const c: Conn = { socket, info: Object.freeze({ remoteAddress: socket.remoteAddress ?? "" }), buffer: "", headSince: 0, lastActive: Date.now(), queue: [], backlog: [], closing: false, paused: false, gone: false };
      socket.data = c;
      conns.add(c);
    },
    data(socket: BunSocket, chunk: Buffer) {
      const c = socket.data;
      if (c.closing || c.gone) return;
      try {
        const now = Date.now();
        c.lastActive = now;
        if (c.buffer.length === 0) c.headSince = now;
        // Bun.listen hands over a Buffer (its default binaryType).
        c.buffer += chunk.toString("latin1");
        // A paused connection may still deliver what was in flight; beyond this it is not a client we serve.
        if (c.buffer.length > maxHeadBytes * maxPipelined) {
          c.gone = true;
          socket.terminate();
          return;
        }
        if (!c.paused) readRequests(c);
      } catch (err) {
        report(err);
        c.gone = true;
        socket.terminate();
      }
    },
    drain(socket: BunSocket) {
      const c = socket.data;
      c.lastActive = Date.now();
      while (c.backlog.length > 0 && !c.gone) {
        const piece = c.backlog[0]!;
        const written = socket.write(piece);
        if (written < piece.byteLength) {
          c.backlog[0] = piece.subarray(Math.max(0, written));
          return;
        }
        c.backlog.shift();
      }
      settle(c);
    },
    close(socket: BunSocket) {
      const c = socket.data;
      if (!c) return;
      c.gone = true;
      conns.delete(c);
    },
    error() {
      // A reset or a TLS failure ends that connection; close() follows and cleans up.
    },
  };

  // Once a second: a connection that sent nothing and took nothing for idleTimeoutSeconds is closed, and a
  // head older than headTimeoutSeconds gets 408 (else a client sending a byte every few seconds would hold
  // its connection for ever). Not Bun's socket timeout: it runs from when it is set, so it would have to be
  // set again on every request, a native call each time.
  const sweep = setInterval(() => {
    const now = Date.now();
    const limit = now - headTimeoutSeconds * 1000;
    const idleSince = now - idleTimeoutSeconds * 1000;
    for (const c of conns) {
      if (c.gone) continue;
      // A paused connection's next head is waiting on us (answers not yet written), not on the client.
      if (c.headSince > 0 && c.headSince < limit && c.buffer.length > 0 && !c.paused && !c.closing) {
        c.buffer = "";
        enqueue(c, bare(408));
        c.closing = true;
        settle(c);
      } else if (c.lastActive < idleSince && c.queue.length === 0) {
        // An answer still owed (the store is slow) is not the client's idleness; one it does not take is, and
        // its connection is reset: a FIN would queue behind the bytes it is not reading.
        c.gone = true;
        if (c.backlog.length > 0) c.socket.terminate();
        else c.socket.end();
      }
    }
  }, 1000);
  (sweep as { unref?: () => void }).unref?.();

  const start = (hostname: string) =>
    Bun.listen({ hostname, port, reusePort, ...(tls ? { tls } : {}), socket: handlers });
  let listener: BunListener;
  try {
    listener = bindHost(opts.hostname, start);
  } catch (err) {
    clearInterval(sweep);
    throw err;
  }
  return {
    url: listenUrl(scheme, opts.hostname ?? "", listener.port),
    port: listener.port,
    async close({ graceMs = 10_000 } = {}) {
      // Stop accepting; idle connections close now, busy ones after their last answer; after the grace
      // period whatever is left is cut.
      stopping = true;
      listener.stop(false);
      for (const c of conns) settle(c);
      const deadline = Date.now() + graceMs;
      while (conns.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      for (const c of conns) c.socket.terminate();
      clearInterval(sweep);
    },
  };
}
