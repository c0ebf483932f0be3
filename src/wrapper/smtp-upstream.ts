/**
 * @module The upstream leg of the wrapper: a small SMTP client that sends one command at a time and hands
 * every reply back whole (code plus every text line), so the proxy can relay the MTA's own words.
 *
 * Why not nodemailer's SMTPConnection: it authenticates by itself (so the client's own AUTH could not be
 * passed through as the MTA's decision), squashes replies into one `response` string, and has no public way
 * to send an arbitrary command such as RSET or a client's DSN parameters as given. This client is ~300
 * lines: connect (plain or implicit TLS), EHLO/HELO, STARTTLS, `command()`, a dot-stuffing DATA writer with
 * backpressure, and timeouts that destroy the connection (a late reply would belong to the wrong command).
 */
import net from "node:net";
import tls from "node:tls";
import { once } from "node:events";

/** One SMTP reply: the code and the text of every line, without the `250-`/`250 ` prefix. */
export interface SmtpReply {
  readonly code: number;
  readonly lines: readonly string[];
}

/** Why the upstream leg failed; the proxy turns every one of these into a 4xx. */
export type UpstreamFailure = "connect" | "timeout" | "closed" | "protocol" | "tls" | "source";

/** A failure of the upstream connection itself (not a reply). The connection is unusable afterwards. */
export class UpstreamError extends Error {
  override name = "UpstreamError";
  constructor(readonly failure: UpstreamFailure, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** TLS settings for the upstream leg. */
export interface UpstreamTls {
  /** Verify the MTA's certificate. @default true */
  readonly verify?: boolean;
  /** Extra CA certificates (PEM) to trust, for a private CA. */
  readonly ca?: string | Buffer;
  /** Name to verify the certificate against. @default the host */
  readonly servername?: string;
}

export interface UpstreamOptions {
  readonly host: string;
  readonly port: number;
  /** TLS from the first byte (port 465). @default port === 465 */
  readonly implicitTls?: boolean;
  /** Upgrade with STARTTLS when the MTA offers it. @default true */
  readonly startTls?: boolean;
  /** Refuse an MTA that offers no STARTTLS (no silent downgrade to plain text). @default false */
  readonly requireTls?: boolean;
  readonly tls?: UpstreamTls;
  /** Name sent in EHLO/HELO. */
  readonly ehloName: string;
  /** @default 30000 */
  readonly connectTimeoutMs?: number;
  /** Per-command reply timeout (RFC 5321 §4.5.3.2 suggests minutes). @default 300000 */
  readonly commandTimeoutMs?: number;
  /** Wait for the reply after the final dot. @default 600000 */
  readonly dataTimeoutMs?: number;
  /** Protocol trace: `>` sent, `<` received. Secrets are already masked by the caller. */
  readonly trace?: (direction: ">" | "<", line: string) => void;
}

/** Parsed EHLO keywords: upper-case keyword → its parameter text ("" when none). */
export type Capabilities = ReadonlyMap<string, string>;

const MAX_LINE = 8192;
const MAX_LINES = 200;

/**
 * Opens an upstream session: connect, read the 220 banner, EHLO (HELO fallback), STARTTLS when offered
 * (then EHLO again). Rejects with an {@link UpstreamError} on network failure or with an
 * `UpstreamReplyError` carrying the MTA's reply when it refuses the session.
 */
export async function openUpstream(opts: UpstreamOptions): Promise<UpstreamConnection> {
  const implicit = opts.implicitTls ?? opts.port === 465;
  const socket = await connectSocket(opts, implicit);
  const conn = new UpstreamConnection(socket, opts, implicit);
  try {
    const banner = await conn.readReply(opts.commandTimeoutMs ?? 300_000);
    if (banner.code !== 220) throw new UpstreamReplyError(banner, "greeting");
    await conn.hello();
    if ((opts.startTls ?? true) && !conn.secure && conn.capabilities.has("STARTTLS")) {
      const reply = await conn.command("STARTTLS");
      if (reply.code !== 220) throw new UpstreamReplyError(reply, "STARTTLS");
      await conn.upgrade();
      await conn.hello();
    }
    if (opts.requireTls && !conn.secure) throw new UpstreamError("tls", `Upstream ${opts.host}:${opts.port} offers no STARTTLS and TLS is required`);
    return conn;
  } catch (error) {
    conn.destroy();
    throw error;
  }
}

/** The MTA answered a session-level step (banner, EHLO, STARTTLS) with a refusal. */
export class UpstreamReplyError extends Error {
  override name = "UpstreamReplyError";
  constructor(readonly reply: SmtpReply, step: string) {
    super(`Upstream refused ${step}: ${reply.code} ${reply.lines.join(" / ")}`);
  }
}

function connectSocket(opts: UpstreamOptions, implicit: boolean): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const timeoutMs = opts.connectTimeoutMs ?? 30_000;
    const socket: net.Socket = implicit
      ? tls.connect({ host: opts.host, port: opts.port, ...tlsOptions(opts) })
      : net.connect({ host: opts.host, port: opts.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new UpstreamError("timeout", `Cannot connect to upstream ${opts.host}:${opts.port}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    // SMTP is request/reply: Nagle would hold a short command (or the final ".\r\n" after a message)
    // until the peer's delayed ACK, up to 40 ms per exchange.
    socket.setNoDelay(true);
    socket.once(implicit ? "secureConnect" : "connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      socket.destroy();
      const failure = implicit && /cert|self.signed|verify|handshake|SSL|TLS/i.test(err.message) ? "tls" : "connect";
      reject(new UpstreamError(failure, `Cannot connect to upstream ${opts.host}:${opts.port}: ${err.message}`, { cause: err }));
    });
  });
}

function tlsOptions(opts: UpstreamOptions): tls.ConnectionOptions {
  const servername = opts.tls?.servername ?? opts.host;
  return {
    // SNI must not be an IP address (RFC 6066 §3); verification still checks the IP against the certificate.
    servername: net.isIP(servername) ? undefined : servername,
    rejectUnauthorized: opts.tls?.verify ?? true,
    ca: opts.tls?.ca ? [...tls.rootCertificates, String(opts.tls.ca)] : undefined,
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(servername, cert),
  };
}

interface Waiter {
  resolve(reply: SmtpReply): void;
  reject(error: Error): void;
}

/** An open upstream session. Methods reject with {@link UpstreamError} when the connection fails. */
export class UpstreamConnection {
  #socket: net.Socket;
  #opts: UpstreamOptions;
  #secure: boolean;
  #pending = "";
  #lines: string[] = [];
  #replies: SmtpReply[] = [];
  #waiter: Waiter | null = null;
  #failure: UpstreamError | null = null;
  #failureHook: (() => void) | null = null;
  #caps: Map<string, string> = new Map();
  #esmtp = false;
  #onData = (chunk: Buffer) => this.#receive(chunk);
  #onClose = () => this.#fail(new UpstreamError("closed", "Upstream closed the connection"));
  #onError = (err: Error) => this.#fail(new UpstreamError("closed", `Upstream connection failed: ${err.message}`, { cause: err }));

  constructor(socket: net.Socket, opts: UpstreamOptions, secure: boolean) {
    this.#socket = socket;
    this.#opts = opts;
    this.#secure = secure;
    this.#attach();
  }

  /** Whether the upstream leg is encrypted (implicit TLS or after STARTTLS). */
  get secure(): boolean {
    return this.#secure;
  }

  /** The MTA's EHLO keywords (empty after a HELO fallback). */
  get capabilities(): Capabilities {
    return this.#caps;
  }

  /** Whether the MTA answered EHLO (false: HELO fallback). */
  get esmtp(): boolean {
    return this.#esmtp;
  }

  /** False once the connection failed or was closed: it must not carry another transaction. */
  get usable(): boolean {
    return this.#failure === null && !this.#socket.destroyed;
  }

  /** The failure that ended the connection, if any. */
  get failure(): UpstreamError | null {
    return this.#failure;
  }

  /** EHLO, falling back to HELO when the MTA does not speak ESMTP; records the capabilities. */
  async hello(): Promise<SmtpReply> {
    const ehlo = await this.command(`EHLO ${this.#opts.ehloName}`);
    if (ehlo.code === 250) {
      this.#esmtp = true;
      this.#caps = parseCapabilities(ehlo.lines.slice(1));
      return ehlo;
    }
    const helo = await this.command(`HELO ${this.#opts.ehloName}`);
    if (helo.code !== 250) throw new UpstreamReplyError(helo, "HELO");
    this.#esmtp = false;
    this.#caps = new Map();
    return helo;
  }

  /**
   * Sends one command line and resolves with its reply, whatever the code.
   * @param opts.traceAs what the trace shows instead of the line (for AUTH secrets)
   */
  command(line: string, opts: { timeoutMs?: number; traceAs?: string } = {}): Promise<SmtpReply> {
    if (/[\r\n]/.test(line)) return Promise.reject(new TypeError("Cannot send an SMTP command containing CR or LF"));
    this.#opts.trace?.(">", opts.traceAs ?? line);
    this.#write(`${line}\r\n`);
    return this.readReply(opts.timeoutMs ?? this.#opts.commandTimeoutMs ?? 300_000);
  }

  /** Resolves with the next reply; a timeout destroys the connection, since a late reply would be misread. */
  readReply(timeoutMs: number): Promise<SmtpReply> {
    const ready = this.#replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#waiter) return Promise.reject(new Error("Cannot wait for two upstream replies at once"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = null;
        const error = new UpstreamError("timeout", `Upstream did not reply within ${timeoutMs} ms`);
        this.#fail(error);
        reject(error);
      }, timeoutMs);
      this.#waiter = {
        resolve: (reply) => (clearTimeout(timer), resolve(reply)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      };
    });
  }

  /**
   * Streams a message body after the MTA's 354: dot-stuffs it (RFC 5321 §4.5.2), writes it with
   * backpressure, ends it with CRLF.CRLF and resolves with the MTA's final reply. If `source` fails
   * (client gone, rewriter failure) the connection is destroyed before the final dot, so the MTA
   * discards the partial message, and the call rejects with failure "source".
   */
  async sendMessage(
    source: AsyncIterable<Uint8Array>,
    opts: { tee?: (chunk: Uint8Array) => void; timeoutMs?: number; abortIf?: () => Error | null } = {},
  ): Promise<{ reply: SmtpReply; bytes: number }> {
    const stuffer = new DotStuffer();
    let bytes = 0;
    // The last chunk is held back and written together with the terminator: one write (and one packet)
    // fewer per message.
    let held: Uint8Array | null = null;
    try {
      for await (const chunk of source) {
        const abort = opts.abortIf?.();
        if (abort) throw abort;
        bytes += chunk.length;
        opts.tee?.(chunk);
        if (this.#failure) throw this.#failure;
        if (held && !this.#socket.write(held)) await this.#drain();
        held = stuffer.push(chunk);
      }
      const abort = opts.abortIf?.();
      if (abort) throw abort;
    } catch (error) {
      if (error instanceof UpstreamError) throw error;
      const reason = new UpstreamError("source", `Message stream failed before its end: ${(error as Error).message}`, { cause: error });
      this.#fail(reason);
      throw reason;
    }
    this.#finishMessage(held, stuffer, bytes);
    const reply = await this.readReply(opts.timeoutMs ?? this.#opts.dataTimeoutMs ?? 600_000);
    return { reply, bytes };
  }

  /**
   * {@link sendMessage} for a Node stream read in flowing mode, without an async iterator in between (the
   * relay's hot path: a promise per chunk was a measurable part of its CPU). On any failure the stream is
   * left alone with no listener of ours (the caller resumes it to drain the rest).
   */
  relayStream(
    stream: NodeJS.ReadableStream,
    opts: { tee?: (chunk: Uint8Array) => void; timeoutMs?: number; abortIf?: () => Error | null } = {},
  ): Promise<{ reply: SmtpReply; bytes: number }> {
    return new Promise((resolve, reject) => {
      const stuffer = new DotStuffer();
      const socket = this.#socket;
      let bytes = 0;
      let held: Uint8Array | null = null;
      let settled = false;
      const cleanup = () => {
        stream.off("data", onData);
        stream.off("end", onEnd);
        stream.off("close", onClose);
        stream.off("error", onError);
        socket.off("drain", onDrain);
        this.#failureHook = null;
      };
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        cleanup();
        const reason = error instanceof UpstreamError ? error : new UpstreamError("source", `Message stream failed before its end: ${error.message}`, { cause: error });
        this.#fail(reason);
        reject(reason);
      };
      const onDrain = () => stream.resume();
      const onData = (chunk: Buffer) => {
        const abort = opts.abortIf?.() ?? this.#failure;
        if (abort) return fail(abort);
        bytes += chunk.length;
        opts.tee?.(chunk);
        if (held && !socket.write(held)) {
          stream.pause();
          socket.once("drain", onDrain);
        }
        held = stuffer.push(chunk);
      };
      const onEnd = () => {
        const abort = opts.abortIf?.() ?? this.#failure;
        if (abort) return fail(abort);
        settled = true;
        cleanup();
        this.#finishMessage(held, stuffer, bytes);
        this.readReply(opts.timeoutMs ?? this.#opts.dataTimeoutMs ?? 600_000).then((reply) => resolve({ reply, bytes }), reject);
      };
      const onClose = () => fail(new Error("Client disconnected before the end of the message"));
      const onError = (err: Error) => fail(err);
      // A connection that fails while the stream is paused for a drain would otherwise never wake it.
      this.#failureHook = () => fail(this.#failure!);
      stream.on("data", onData);
      stream.once("end", onEnd);
      stream.once("close", onClose);
      stream.once("error", onError);
      if (this.#failure) fail(this.#failure);
    });
  }

  /** Writes the held last chunk and the terminator (one write when the chunk is small). */
  #finishMessage(held: Uint8Array | null, stuffer: DotStuffer, bytes: number): void {
    this.#opts.trace?.(">", `<${bytes} bytes of message data>`);
    // Corked, the last chunk and the terminator leave in one system call and packet, without a copy.
    if (this.#failure) return;
    this.#socket.cork();
    if (held) this.#socket.write(held);
    this.#socket.write(stuffer.end());
    this.#socket.uncork();
  }

  /** Says QUIT (waiting briefly for the reply) and closes. Never rejects. */
  async quit(timeoutMs = 2000): Promise<void> {
    if (this.usable) {
      try {
        await this.command("QUIT", { timeoutMs });
      } catch {
        // The MTA may hang up without a 221; the session is over either way.
      }
    }
    this.destroy();
  }

  /** Closes the socket at once, without QUIT (a DATA in progress is abandoned, not submitted). */
  destroy(): void {
    this.#fail(new UpstreamError("closed", "Upstream connection closed by the wrapper"));
    this.#socket.destroy();
  }

  /** Wraps the socket in TLS after a 220 to STARTTLS. */
  async upgrade(): Promise<void> {
    this.#detach();
    const plain = this.#socket;
    const secure = tls.connect({ socket: plain, ...tlsOptions(this.#opts) });
    try {
      await Promise.race([
        once(secure, "secureConnect"),
        new Promise((_, reject) => setTimeout(() => reject(new Error("TLS handshake timed out")), this.#opts.connectTimeoutMs ?? 30_000)),
      ]);
    } catch (error) {
      secure.destroy();
      const reason = new UpstreamError("tls", `Cannot start TLS with upstream: ${(error as Error).message}`, { cause: error });
      this.#failure = reason;
      throw reason;
    }
    this.#socket = secure;
    this.#secure = true;
    this.#attach();
  }

  #attach(): void {
    this.#socket.on("data", this.#onData);
    this.#socket.on("close", this.#onClose);
    this.#socket.on("error", this.#onError);
  }

  #detach(): void {
    this.#socket.off("data", this.#onData);
    this.#socket.off("close", this.#onClose);
    this.#socket.off("error", this.#onError);
  }

  #write(data: string | Uint8Array): void {
    if (this.#failure) return;
    this.#socket.write(data);
  }

  #drain(): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        this.#socket.off("drain", done);
        this.#socket.off("close", done);
        if (this.#failure) reject(this.#failure);
        else resolve();
      };
      this.#socket.on("drain", done);
      this.#socket.on("close", done);
    });
  }

  #receive(chunk: Buffer): void {
    // latin1 keeps one char per byte, so a UTF-8 sequence split across chunks is decoded whole per line.
    this.#pending += chunk.toString("latin1");
    let nl: number;
    while ((nl = this.#pending.indexOf("\n")) >= 0) {
      const line = Buffer.from(this.#pending.slice(0, nl).replace(/\r$/, ""), "latin1").toString("utf8");
      this.#pending = this.#pending.slice(nl + 1);
      this.#line(line);
      if (this.#failure) return;
    }
    if (this.#pending.length > MAX_LINE) this.#fail(new UpstreamError("protocol", "Upstream sent a reply line longer than 8192 characters"));
  }

  #line(line: string): void {
    this.#opts.trace?.("<", line);
    const match = /^(\d{3})([ -]?)(.*)$/s.exec(line);
    if (!match || line.length > MAX_LINE) {
      this.#fail(new UpstreamError("protocol", `Upstream sent a malformed reply line: ${JSON.stringify(line.slice(0, 80))}`));
      return;
    }
    this.#lines.push(match[3]!);
    if (this.#lines.length > MAX_LINES) {
      this.#fail(new UpstreamError("protocol", "Upstream sent a reply of more than 200 lines"));
      return;
    }
    if (match[2] === "-") return;
    const reply: SmtpReply = { code: Number(match[1]), lines: this.#lines };
    this.#lines = [];
    const waiter = this.#waiter;
    this.#waiter = null;
    if (waiter) waiter.resolve(reply);
    // Nothing was asked: a 421 is the MTA closing an idle session (RFC 5321 §3.8), not an answer to the
    // next command.
    else if (reply.code === 421) this.#fail(new UpstreamError("closed", `Upstream closed the session: 421 ${reply.lines.join(" ")}`));
    else this.#replies.push(reply);
  }

  #fail(error: UpstreamError): void {
    if (this.#failure) return;
    this.#failure = error;
    this.#socket.destroy();
    this.#failureHook?.();
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.reject(error);
  }
}

/** Parses EHLO lines after the first into keyword → parameters. */
export function parseCapabilities(lines: readonly string[]): Map<string, string> {
  const caps = new Map<string, string>();
  for (const line of lines) {
    const [keyword = "", ...rest] = line.trim().split(/\s+/);
    if (keyword) caps.set(keyword.toUpperCase(), rest.join(" "));
  }
  return caps;
}

const LF = 0x0a;
const DOT = 0x2e;
const CR = 0x0d;

/**
 * Dot-stuffing across chunk boundaries: a `.` at the start of a line gets a second `.`. A line starts at
 * the beginning of the message and after every LF (the same rule smtp-server uses when it removes them).
 */
export class DotStuffer {
  #atLineStart = true;
  #last2 = [CR, LF];
  #any = false;

  /** Returns `chunk` with dots stuffed (the same buffer when nothing needed stuffing). */
  push(chunk: Uint8Array): Uint8Array {
    if (chunk.length === 0) return chunk;
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const parts: Buffer[] = [];
    let from = 0;
    if (this.#atLineStart && buf[0] === DOT) {
      parts.push(Buffer.from("."));
    }
    let at = buf.indexOf("\n.", 0);
    while (at >= 0) {
      parts.push(buf.subarray(from, at + 1), Buffer.from("."));
      from = at + 1;
      at = buf.indexOf("\n.", at + 1);
    }
    this.#atLineStart = buf[buf.length - 1] === LF;
    this.#last2 = buf.length >= 2 ? [buf[buf.length - 2]!, buf[buf.length - 1]!] : [this.#last2[1]!, buf[0]!];
    this.#any = true;
    if (parts.length === 0) return buf;
    parts.push(buf.subarray(from));
    return Buffer.concat(parts);
  }

  /** The terminator: `.\r\n`, preceded by CRLF when the message did not end with one. */
  end(): Buffer {
    const endsWithCrlf = !this.#any || (this.#last2[0] === CR && this.#last2[1] === LF);
    return Buffer.from(endsWithCrlf ? ".\r\n" : "\r\n.\r\n");
  }
}
