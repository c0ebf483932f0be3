/**
 * @module The SMTP proxy: smtp-server in front, one upstream session per client session behind, and the
 * message rewriter (an injected function) in between.
 *
 * Transparency is the point, so the proxy hooks smtp-server per connection instead of living with its canned
 * replies: `send` is wrapped so the MTA's own reply (code, enhanced code, every line) goes back verbatim,
 * EHLO/HELO wait for the upstream session (so the capabilities offered are the upstream's), DATA goes to the
 * MTA (in parallel with the body in relay mode, once the body is in with the rewriter), and RSET/QUIT are
 * passed on. Everything else (parsing, pipelining, STARTTLS, SASL framing, size limit, timeouts) is
 * smtp-server's own code, apart from its DATA scanner (see smtp-fast-data.ts).
 *
 * The reply rules (design card, Haraka `smtp_forward`): the MTA's reply is relayed as is; a failure of the
 * upstream leg or of the proxy itself becomes a 4xx so the client retries; 250 to the final dot only after
 * the MTA's 250 for the same message. A session whose upstream leg failed never starts another transaction:
 * the next command gets 421 and the connection closes.
 */
import { PassThrough } from "node:stream";
import { SMTPServer, type SMTPServerAddress, type SMTPServerAuthentication, type SMTPServerAuthenticationResponse, type SMTPServerDataStream, type SMTPServerOptions, type SMTPServerSession } from "smtp-server";
import type net from "node:net";
import { silentLogger, type Logger } from "../log.ts";
import { installFastDataScanner } from "./smtp-fast-data.ts";
import { noMetrics, type MessageResult, type ProxyMetrics } from "./smtp-metrics.ts";
import type { MessageRewriter, RewriteSummary, RewrittenMessage } from "./types.ts";
import { openUpstream, UpstreamError, UpstreamReplyError, type Capabilities, type SmtpReply, type UpstreamConnection, type UpstreamOptions } from "./smtp-upstream.ts";

/** How clients authenticate. */
export type AuthMode =
  /** AUTH is passed to the MTA, which decides (PLAIN, LOGIN, XOAUTH2). */
  | { kind: "forward" }
  /** The wrapper checks the credentials itself and requires them; the MTA sees none (or `upstream`). */
  | { kind: "local"; verify: (user: string, password: string) => boolean }
  /** AUTH is not offered. */
  | { kind: "none" };

export interface SmtpProxyDeps {
  /** Upstream MTA, minus `trace` (the proxy adds it when verbose). */
  readonly upstream: Omit<UpstreamOptions, "trace">;
  /** Credentials the wrapper itself uses at the MTA (local auth mode, or a relay account). */
  readonly upstreamCredentials?: { readonly user: string; readonly password: string } | null;
  /**
   * The message rewriter (issue 7); null: plain relay (tracking off). It spools the whole message, so with
   * it the MTA is asked for DATA only once the rewritten message is ready (the client gets smtp-server's
   * 354 at once, and the MTA's DATA reply, if a refusal, as the final reply); without it the MTA's 354 is
   * awaited first and the message streams straight through.
   */
  readonly rewriter?: MessageRewriter | null;
  /** "split": one recipient per tracked message (452 4.5.3 to the second); "shared": one copy, no rcpt in links. @default "split" */
  readonly rcptPolicy?: "split" | "shared";
  /** Downstream certificate: enables STARTTLS (and the implicit TLS port). Never smtp-server's built-in one. */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer } | null;
  /** Name in the greeting and EHLO reply. */
  readonly name: string;
  readonly auth?: AuthMode;
  /** Message size limit when the MTA announces none (or a larger one). @default 64 MiB */
  readonly maxMessageBytes?: number;
  /** @default 1000 */
  readonly maxClients?: number;
  /** Client inactivity timeout, between commands and within DATA. @default 60000 (the original's) */
  readonly idleTimeoutMs?: number;
  /** Log the SMTP conversation on both legs (AUTH secrets masked). @default false */
  readonly verbose?: boolean;
  /** Tee of client-side traffic (commands with AUTH masked, replies, DATA), like the original's `-downstream_debug`. */
  readonly downstreamDebug?: { write(chunk: string | Uint8Array): unknown } | null;
  /** Each message as sent upstream, like the original's `-upstream_data_debug`. */
  readonly upstreamDataDebug?: { write(chunk: string | Uint8Array): unknown } | null;
  readonly log?: Logger;
  readonly metrics?: ProxyMetrics;
  readonly now?: () => number;
}

/** A running proxy. */
export interface SmtpProxyHandle {
  /** Capabilities learned from the MTA at start (null when it could not be reached then). */
  readonly startupCapabilities: Capabilities | null;
  /**
   * Starts listening; `implicitTls` needs a certificate; `reusePort` (SO_REUSEPORT, Linux and BSDs) lets
   * several wrapper processes share the port, the kernel spreading connections. Resolves with the bound port.
   */
  listen(opts: { host: string; port: number; implicitTls?: boolean; reusePort?: boolean }): Promise<number>;
  /** Replaces the downstream certificate (SIGHUP). */
  reloadTls(tls: { key: string | Buffer; cert: string | Buffer }): void;
  /** Stops accepting, closes idle sessions, lets transactions in flight finish for up to `graceMs`, then closes the rest. */
  close(opts?: { graceMs?: number }): Promise<void>;
}

/** The bits of smtp-server's connection object the proxy hooks (not in its type declarations). */
interface RawConnection {
  id: string;
  session: SMTPServerSession;
  secure: boolean;
  remoteAddress: string;
  send(code: number, data?: string | string[], context?: string | false): void;
  close(): void;
  handler_EHLO(command: Buffer, callback: () => void): void;
  handler_HELO(command: Buffer, callback: () => void): void;
  handler_DATA(command: Buffer, callback: () => void): void;
  handler_RSET(command: Buffer, callback: () => void): void;
  handler_QUIT(command: Buffer, callback: () => void): void;
  _onCommand(command: Buffer, callback?: () => void): void;
  _nextHandler: unknown;
  _parser: unknown;
}

interface SessionState {
  readonly conn: RawConnection;
  upstream: UpstreamConnection | null;
  opening: Promise<UpstreamConnection> | null;
  /** Why the upstream leg is gone; set once, the session then only answers 421. */
  lost: string | null;
  /** The next reply smtp-server sends is replaced by this one (the MTA's own). */
  override: SmtpReply | null;
  filterEhlo: boolean;
  inData: boolean;
  /** The client's AUTH was accepted by the MTA on this upstream session. */
  authenticatedUpstream: boolean;
  /** The MTA's reply to DATA, sent when the client said DATA (relay mode). */
  dataReply: Promise<SmtpReply> | null;
  messages: number;
}

const OUR_AUTH_METHODS = ["PLAIN", "LOGIN", "XOAUTH2"];
/** Downstream keywords that only make sense when the MTA has them too. */
const UPSTREAM_DEPENDENT = ["8BITMIME", "SMTPUTF8", "DSN", "ENHANCEDSTATUSCODES"];

/**
 * Builds the proxy and probes the MTA once (its capabilities set what smtp-server checks: SIZE, DSN,
 * 8BITMIME, SMTPUTF8, enhanced codes). A failed probe is logged, not fatal: the MTA may come up later.
 */
export async function createSmtpProxy(deps: SmtpProxyDeps): Promise<SmtpProxyHandle> {
  const log = deps.log ?? silentLogger;
  const metrics = deps.metrics ?? noMetrics;
  const now = deps.now ?? Date.now;
  const auth = deps.auth ?? { kind: "forward" };
  const rcptPolicy = deps.rcptPolicy ?? "split";
  const maxBytesDefault = deps.maxMessageBytes ?? 64 * 1024 * 1024;
  const sessions = new Map<string, SessionState>();
  const servers: ProxyServer[] = [];
  let closing = false;

  const upstreamTrace = (id: string) => (deps.verbose ? (dir: ">" | "<", line: string) => log.info(`${id} upstream ${dir === ">" ? "->" : "<-"} ${line}`) : undefined);

  let startupCapabilities: Capabilities | null = null;
  try {
    const probe = await openUpstream({ ...deps.upstream, trace: upstreamTrace("probe") });
    startupCapabilities = probe.capabilities;
    log.info(`Upstream ${deps.upstream.host}:${deps.upstream.port} ${probe.secure ? "(TLS)" : "(plain)"} offers: ${[...probe.capabilities.keys()].join(" ") || "(no ESMTP)"}`);
    await probe.quit();
  } catch (error) {
    log.warn(`Cannot probe upstream ${deps.upstream.host}:${deps.upstream.port} at start (will retry per connection): ${(error as Error).message}`);
  }

  const upstreamSize = sizeOf(startupCapabilities);
  const size = upstreamSize ? Math.min(upstreamSize, maxBytesDefault) : maxBytesDefault;
  const has = (key: string) => startupCapabilities === null || startupCapabilities.has(key);

  function sizeOf(caps: Capabilities | null): number {
    const value = Number(caps?.get("SIZE") ?? 0);
    return Number.isFinite(value) && value > 0 ? value : 0;
  }

  const options = (implicitTls: boolean): SMTPServerOptions => ({
    name: deps.name,
    banner: "Service Ready",
    secure: implicitTls,
    ...(deps.tls ? { key: deps.tls.key, cert: deps.tls.cert } : {}),
    hideSTARTTLS: !deps.tls,
    disabledCommands: [...(deps.tls ? [] : ["STARTTLS"]), ...(auth.kind === "none" ? ["AUTH"] : [])],
    authMethods: auth.kind === "local" ? ["PLAIN", "LOGIN"] : OUR_AUTH_METHODS,
    authOptional: auth.kind !== "local",
    size,
    rejectOversized: true,
    hide8BITMIME: !has("8BITMIME"),
    hideSMTPUTF8: !has("SMTPUTF8"),
    hideDSN: !has("DSN"),
    hideENHANCEDSTATUSCODES: !has("ENHANCEDSTATUSCODES"),
    hideREQUIRETLS: true,
    disableReverseLookup: true,
    maxClients: deps.maxClients ?? 1000,
    socketTimeout: deps.idleTimeoutMs ?? 60_000,
    closeTimeout: 30_000,
    logger: deps.verbose ? smtpServerLogger(log) : false,
    onConnect: (session, callback) => {
      if (closing) return callback(smtpError(421, "4.3.2 Service shutting down"));
      callback();
    },
    onAuth: (authData, session, callback) => void handleAuth(authData, session, callback),
    onMailFrom: (address, session, callback) => void handleMail(address, session, callback),
    onRcptTo: (address, session, callback) => void handleRcpt(address, session, callback),
    onData: (stream, session, callback) => void handleData(stream, session, callback),
    onClose: (session) => handleClose(session),
  });

  // ---- per-connection hooks ---------------------------------------------------------------------------

  function adopt(conn: RawConnection): void {
    // The hooks rely on smtp-server 3.21's connection internals; refuse to relay without them rather than
    // relay with canned replies (a 250 that is not the MTA's would break the never-lose-mail rule).
    const hooks = ["send", "_onCommand", "handler_EHLO", "handler_HELO", "handler_DATA", "handler_RSET", "handler_QUIT"] as const;
    if (hooks.some((h) => typeof conn[h] !== "function")) {
      log.error("smtp-server's connection internals are not the ones the wrapper hooks (upgrade of smtp-server?): refusing connections");
      conn.send(421, "4.3.0 Service not available", false);
      return;
    }
    const state: SessionState = { conn, upstream: null, opening: null, lost: null, override: null, filterEhlo: false, inData: false, dataReply: null, authenticatedUpstream: false, messages: 0 };
    sessions.set(conn.id, state);
    metrics.connection(1);
    const debug = deps.downstreamDebug;

    const send = conn.send.bind(conn);
    conn.send = (code, data, context) => {
      const override = state.override;
      if (override) {
        state.override = null;
        debug?.write(formatReply(override.code, [...override.lines]));
        return send(override.code, [...override.lines], false);
      }
      if (state.filterEhlo && code === 250 && Array.isArray(data)) {
        state.filterEhlo = false;
        data = [data[0]!, ...filterFeatures(data.slice(1), state)];
      }
      if (debug) debug.write(Array.isArray(data) ? formatReply(code, data) : `${code} ${data ?? ""}\r\n`);
      return send(code, data, context);
    };

    if (debug) {
      const onCommand = conn._onCommand.bind(conn);
      conn._onCommand = (command, callback) => {
        const line = command.toString("binary");
        const masked = conn._nextHandler ? "/* secured */" : /^\s*AUTH\s+\S+\s+\S/i.test(line) ? line.replace(/^(\s*AUTH\s+\S+\s+).*/i, "$1/* secured */") : line;
        debug.write(`${masked}\r\n`);
        return onCommand(command, callback);
      };
    }

    const ehlo = conn.handler_EHLO;
    const helo = conn.handler_HELO;
    const hello = (original: typeof ehlo) => (command: Buffer, callback: () => void) => {
      if (state.lost) return void (conn.send(421, "4.4.2 Upstream unavailable, try again later", false), callback());
      ensureUpstream(state)
        .then(async (upstream) => {
          // EHLO resets the transaction (RFC 5321 §4.1.4): keep the MTA in step.
          if (conn.session.envelope?.mailFrom) await timed(upstream, "RSET");
        })
        .then(
          () => {
            state.filterEhlo = true;
            original.call(conn, command, callback);
          },
          (error: unknown) => {
            conn.send(...upstreamUnavailable(state, error));
            callback();
          },
        );
    };
    conn.handler_EHLO = hello(ehlo);
    conn.handler_HELO = hello(helo);

    const data = conn.handler_DATA;
    conn.handler_DATA = (command, callback) => {
      if (!conn.session.envelope.rcptTo.length) return data.call(conn, command, callback);
      // STARTTLS replaces the parser, so this is done per DATA (it is idempotent).
      installFastDataScanner(conn._parser);
      const upstream = state.upstream;
      // A transaction whose upstream leg is gone cannot go on: say so before the client sends the body.
      if (state.lost || !upstream?.usable) {
        lose(state, upstream?.failure ?? new UpstreamError("closed", state.lost ?? "Upstream connection lost"));
        return void (conn.send(421, "4.4.2 Upstream unavailable, try again later", false), callback());
      }
      if (deps.rewriter) {
        state.inData = true;
        return data.call(conn, command, callback);
      }
      // DATA goes upstream now and the client gets 354 at once: the MTA's answer is awaited while the
      // body arrives (one round trip less per message). A refusal becomes the reply to the final dot.
      state.dataReply = timed(upstream, "DATA");
      state.dataReply.catch(() => undefined);
      state.inData = true;
      data.call(conn, command, callback);
    };

    const rset = conn.handler_RSET;
    conn.handler_RSET = (command, callback) => {
      const upstream = state.upstream;
      if (!upstream?.usable) return rset.call(conn, command, callback);
      timed(upstream, "RSET").then(
        (reply) => {
          state.override = reply;
          rset.call(conn, command, callback);
        },
        (error: unknown) => {
          conn.send(...lose(state, error));
          callback();
        },
      );
    };

    const quit = conn.handler_QUIT;
    conn.handler_QUIT = (command, callback) => {
      const upstream = state.upstream;
      state.upstream = null;
      void upstream?.quit();
      quit.call(conn, command, callback);
    };
  }

  function filterFeatures(features: string[], state: SessionState): string[] {
    const caps = state.upstream?.capabilities ?? new Map<string, string>();
    const out: string[] = [];
    for (const feature of features) {
      const keyword = feature.split(" ")[0]!.toUpperCase();
      if (UPSTREAM_DEPENDENT.includes(keyword) && !caps.has(keyword)) continue;
      if (keyword === "AUTH") {
        const methods = auth.kind === "local" ? ["PLAIN", "LOGIN"] : forwardableMethods(caps);
        if (methods.length) out.push(`AUTH ${methods.join(" ")}`);
        continue;
      }
      if (keyword === "SIZE") {
        const upstreamLimit = sizeOf(caps);
        out.push(`SIZE ${upstreamLimit ? Math.min(upstreamLimit, size) : size}`);
        continue;
      }
      out.push(feature);
    }
    return out;
  }

  function forwardableMethods(caps: Capabilities): string[] {
    const offered = (caps.get("AUTH") ?? "").toUpperCase().split(/\s+/);
    const methods = OUR_AUTH_METHODS.filter((m) => offered.includes(m));
    // A LOGIN client can still be served by an MTA that only takes PLAIN: same credentials, other framing.
    if (!methods.includes("LOGIN") && methods.includes("PLAIN")) methods.splice(1, 0, "LOGIN");
    return methods;
  }

  // ---- upstream session -------------------------------------------------------------------------------

  function ensureUpstream(state: SessionState): Promise<UpstreamConnection> {
    if (state.lost) return Promise.reject(new UpstreamError("closed", state.lost));
    if (state.upstream?.usable) return Promise.resolve(state.upstream);
    // An MTA that closed an idle session is reconnected, unless that session carried the client's own AUTH
    // or a transaction in progress: a fresh one would have neither, so the client must start over.
    if (state.upstream && (state.authenticatedUpstream || state.conn.session.envelope?.mailFrom)) {
      return Promise.reject(new UpstreamError("closed", "Upstream session ended"));
    }
    state.opening ??= (async () => {
      const started = now();
      const upstream = await openUpstream({ ...deps.upstream, trace: upstreamTrace(state.conn.id) });
      metrics.upstreamLatency("connect", (now() - started) / 1000);
      const creds = deps.upstreamCredentials;
      if (creds) {
        const token = Buffer.from(`\0${creds.user}\0${creds.password}`).toString("base64");
        const reply = await upstream.command(`AUTH PLAIN ${token}`, { traceAs: "AUTH PLAIN /* secured */" });
        if (reply.code !== 235) {
          upstream.destroy();
          throw new UpstreamReplyError(reply, "the wrapper's own AUTH");
        }
      }
      state.upstream = upstream;
      return upstream;
    })().finally(() => {
      state.opening = null;
    });
    return state.opening;
  }

  async function timed(upstream: UpstreamConnection, line: string, traceAs?: string): Promise<SmtpReply> {
    const started = now();
    const reply = await upstream.command(line, { traceAs });
    metrics.upstreamLatency(line.slice(0, 4).toUpperCase(), (now() - started) / 1000);
    return reply;
  }

  /** RSET upstream after a transaction the client's side has already ended; a failure loses the leg. */
  async function resetUpstream(state: SessionState): Promise<void> {
    const upstream = state.upstream;
    if (!upstream?.usable) return;
    try {
      const reply = await timed(upstream, "RSET");
      if (reply.code !== 250) lose(state, new UpstreamError("protocol", `Upstream refused RSET: ${reply.code}`));
    } catch (error) {
      lose(state, error);
    }
  }

  /** Marks the session's upstream leg as gone and returns the 421 that closes the client connection. */
  function lose(state: SessionState, error: unknown): [number, string, false] {
    const reason = error instanceof UpstreamError ? error.message : `Internal error: ${(error as Error)?.message ?? error}`;
    if (!(error instanceof UpstreamError)) log.error(`${state.conn.id} internal error: ${(error as Error)?.stack ?? error}`);
    else if (!state.lost) log.warn(`${state.conn.id} upstream session lost: ${reason}`);
    state.lost ??= reason;
    state.upstream?.destroy();
    return [421, `4.4.2 Upstream unavailable, try again later`, false];
  }

  /** The reply when the upstream session cannot be opened: the MTA's own refusal, or 421. */
  function upstreamUnavailable(state: SessionState, error: unknown): [number, string | string[], false] {
    log.warn(`${state.conn.id} cannot open upstream session: ${(error as Error).message}`);
    if (error instanceof UpstreamReplyError && error.reply.code >= 400) {
      // The MTA's own words, but always as "closing": this session has no usable upstream.
      state.lost ??= error.message;
      return [error.reply.code >= 500 ? 554 : 421, [...error.reply.lines], false];
    }
    state.lost ??= (error as Error).message;
    return [421, "4.4.1 Upstream unavailable, try again later", false];
  }

  /** An error reply of the proxy's own, sent exactly as written (smtp-server would add a second enhanced code). */
  function own(state: SessionState, code: number, text: string): Error {
    state.override = { code, lines: [text] };
    return smtpError(code, text);
  }

  /** Answers through smtp-server's callback with the MTA's reply verbatim. */
  function relay(state: SessionState, reply: SmtpReply, callback: (err?: Error | null) => void): void {
    state.override = reply;
    if (reply.code >= 200 && reply.code < 400) callback();
    else callback(smtpError(reply.code, reply.lines.join(" ")));
    // smtp-server sends synchronously from these callbacks; a reply it did not send must not replace a later one.
    state.override = null;
  }

  function stateOf(session: SMTPServerSession): SessionState {
    const state = sessions.get(session.id);
    if (!state) throw new Error(`No proxy state for session ${session.id}`);
    return state;
  }

  // ---- smtp-server handlers ---------------------------------------------------------------------------

  async function handleAuth(authData: SMTPServerAuthentication, session: SMTPServerSession, callback: (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void) {
    const state = stateOf(session);
    const username = authData.username ?? "";
    if (auth.kind === "local") {
      const ok = auth.verify(username, authData.password ?? "");
      if (ok) return callback(null, { user: username });
      callback(own(state, 535, "5.7.8 Authentication credentials invalid"));
      state.override = null;
      return;
    }
    try {
      const upstream = await ensureUpstream(state);
      const reply = await forwardAuth(upstream, authData);
      state.override = reply;
      if (reply.code === 235) {
        state.authenticatedUpstream = true;
        callback(null, { user: username });
      } else callback(smtpError(reply.code, reply.lines.join(" ")));
      state.override = null;
    } catch (error) {
      const [code, text] = lose(state, error);
      callback(own(state, code, text));
      state.override = null;
    }
  }

  async function forwardAuth(upstream: UpstreamConnection, a: SMTPServerAuthentication): Promise<SmtpReply> {
    const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
    const offered = (upstream.capabilities.get("AUTH") ?? "").toUpperCase().split(/\s+/);
    const secret = (method: string) => `AUTH ${method} /* secured */`;
    if (a.method === "XOAUTH2") {
      const token = b64(`user=${a.username}\x01auth=Bearer ${a.accessToken ?? ""}\x01\x01`);
      let reply = await timed(upstream, `AUTH XOAUTH2 ${token}`, secret("XOAUTH2"));
      // RFC 7628 §3.2.3: a failure comes as a 334 with an error document; an empty line gets the final reply.
      if (reply.code === 334) reply = await timed(upstream, "", "");
      return reply;
    }
    if (a.method === "LOGIN" && offered.includes("LOGIN")) {
      let reply = await timed(upstream, "AUTH LOGIN");
      if (reply.code !== 334) return reply;
      reply = await timed(upstream, b64(a.username ?? ""), "/* secured */");
      if (reply.code !== 334) return reply;
      return timed(upstream, b64(a.password ?? ""), "/* secured */");
    }
    const authzid = a.method === "PLAIN" ? ((a as { authzid?: string }).authzid ?? "") : "";
    let reply = await timed(upstream, `AUTH PLAIN ${b64(`${authzid}\0${a.username ?? ""}\0${a.password ?? ""}`)}`, secret("PLAIN"));
    if (reply.code === 334) reply = await timed(upstream, "*"); // cancel a confused exchange (RFC 4954 §4)
    return reply;
  }

  async function handleMail(address: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void) {
    const state = stateOf(session);
    try {
      if (state.lost) return void (callback(own(state, 421, "4.4.2 Upstream unavailable, try again later")), (state.override = null));
      const upstream = await ensureUpstream(state);
      relay(state, await timed(upstream, `MAIL FROM:<${address.address}>${formatParams(address.args)}`), callback);
    } catch (error) {
      const [code, text] = lose(state, error);
      callback(own(state, code, text));
      state.override = null;
    }
  }

  async function handleRcpt(address: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void) {
    const state = stateOf(session);
    try {
      if (state.lost) return void (callback(own(state, 421, "4.4.2 Upstream unavailable, try again later")), (state.override = null));
      const accepted = session.envelope.rcptTo;
      const repeat = accepted.some((r) => r.address.toLowerCase() === address.address.toLowerCase());
      if (deps.rewriter && rcptPolicy === "split" && accepted.length >= 1 && !repeat) {
        // Each tracked copy carries its recipient in its links, so each recipient needs its own copy.
        // 452 is the too-many-recipients answer clients retry in a later transaction (RFC 5321 §4.5.3.1.10).
        return relay(state, { code: 452, lines: ["4.5.3 Too many recipients: send each recipient its own copy"] }, callback);
      }
      const upstream = await ensureUpstream(state);
      relay(state, await timed(upstream, `RCPT TO:<${address.address}>${formatParams(address.args)}`), callback);
    } catch (error) {
      const [code, text] = lose(state, error);
      callback(own(state, code, text));
      state.override = null;
    }
  }

  async function handleData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: (err?: Error | null, message?: string) => void) {
    const state = stateOf(session);
    const started = now();
    const rcptTo = session.envelope.rcptTo.map((r) => r.address);
    const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
    // The rewriter reads a stream of its own (the proxy may have to stop reading smtp-server's); the relay
    // reads smtp-server's stream directly, in flowing mode.
    const guard = deps.rewriter ? guardInput(stream) : directInput(stream);
    const tooBig = () => (stream.sizeExceeded ? new Error(`Message exceeds the size limit of ${size} bytes`) : null);
    let rewritten: RewrittenMessage | null = null;
    let result: MessageResult = "deferred";
    let replyText = "";
    let bytesOut = 0;
    try {
      const upstream = state.upstream;
      if (!upstream?.usable) throw new UpstreamError("closed", state.lost ?? "Upstream connection lost");
      let source: AsyncIterable<Uint8Array> = guard.input;
      if (deps.rewriter) {
        // The envelope recipient, not the To: header, is the one tracked links are for.
        const rcpt = rcptTo.length === 1 ? rcptTo[0]! : null;
        // DATA goes upstream once the whole body is in (never while a slow client uploads: the MTA's DATA
        // timer would run), so its round trip overlaps the rewrite.
        guard.input.once("end", () => {
          if (stream.sizeExceeded || !upstream.usable) return;
          state.dataReply = timed(upstream, "DATA");
          state.dataReply.catch(() => undefined);
        });
        rewritten = await deps.rewriter.rewrite(guard.input, { rcpt });
        const abort = tooBig();
        if (abort) throw abort;
      }
      const dataReply = await (state.dataReply ?? timed(upstream, "DATA"));
      if (dataReply.code !== 354) {
        // The MTA refused DATA: its refusal answers this message; smtp-server ends the client's
        // transaction with it, so end the MTA's too.
        guard.abort();
        replyText = `${dataReply.code} ${dataReply.lines.join(" / ")}`;
        result = dataReply.code >= 500 ? "rejected" : "deferred";
        await resetUpstream(state);
        state.override = dataReply;
        return callback(smtpError(dataReply.code, dataReply.lines.join(" ")));
      }
      if (rewritten) source = rewritten.stream();
      const debug = deps.upstreamDataDebug;
      const sendOpts = { tee: debug ? (chunk: Uint8Array) => debug.write(chunk) : undefined, abortIf: tooBig };
      const sent = rewritten ? await upstream.sendMessage(source, sendOpts) : await upstream.relayStream(stream, sendOpts);
      bytesOut = sent.bytes;
      const reply = sent.reply;
      metrics.upstreamLatency("DATA-END", (now() - started) / 1000);
      replyText = `${reply.code} ${reply.lines.join(" / ")}`;
      result = reply.code >= 200 && reply.code < 300 ? "accepted" : reply.code >= 500 ? "rejected" : "deferred";
      state.override = reply;
      if (result === "accepted") callback(null, reply.lines.join(" "));
      else callback(smtpError(reply.code, reply.lines.join(" ")));
    } catch (error) {
      guard.abort();
      if (stream.sizeExceeded) {
        result = "rejected";
        replyText = "552 size limit";
        // Only a message already streaming upstream leaves the MTA mid-DATA; then the leg is gone.
        if (!deps.rewriter) {
          state.lost ??= "Message over the size limit abandoned upstream";
          state.upstream?.destroy();
        } else {
          await resetUpstream(state);
        }
        callback(smtpError(552, `5.3.4 Message exceeds the size limit of ${size} bytes`));
      } else {
        result = guard.clientGone() ? "aborted" : "deferred";
        const [code, text] = lose(state, error);
        replyText = `${code} ${text} (${(error as Error).message})`;
        // Not 421 here: 451 answers this message; the next command gets 421 and the connection closes.
        callback(own(state, 451, text));
      }
    } finally {
      state.inData = false;
      state.dataReply = null;
      state.messages++;
      const s: RewriteSummary | null = rewritten?.summary ?? null;
      if (s?.outcome === "fallback") metrics.rewriteFailure(s.reason ?? "unknown");
      await rewritten?.close().catch(() => undefined);
      metrics.message(result, stream.byteLength ?? 0, bytesOut);
      log.info(
        `message ${s?.messageId ?? "-"} session=${session.id} client=${session.remoteAddress} from=<${mailFrom}> rcpts=${rcptTo.length} ` +
          `size=${stream.byteLength ?? 0} sent=${bytesOut} result=${result} upstream="${replyText}" ` +
          `links=${s?.links ?? 0} pixels=${s?.pixels ?? 0}${s ? ` rewrite=${s.outcome}${s.reason ? `:${s.reason}` : ""}` : ""} ms=${now() - started}`,
      );
    }
  }

  function handleClose(session: SMTPServerSession): void {
    const state = sessions.get(session.id);
    if (!state) return;
    sessions.delete(session.id);
    metrics.connection(-1);
    const upstream = state.upstream;
    state.upstream = null;
    if (upstream?.usable && !state.inData) void upstream.quit();
    else upstream?.destroy();
    void state.opening?.then((u) => u.quit(), () => undefined);
  }

  // ---- lifecycle --------------------------------------------------------------------------------------

  class ProxyServer extends SMTPServer {
    // smtp-server creates one SMTPConnection per socket here; hooking it before its first command is what
    // lets the proxy relay the MTA's replies verbatim (see the module comment).
    override connect(socket: net.Socket, socketOptions: unknown): void {
      // Replies are short writes; without this Nagle can hold one until the client's delayed ACK.
      socket.setNoDelay?.(true);
      const before = this.connections.size;
      // @ts-expect-error connect() is smtp-server API the type declarations do not list
      super.connect(socket, socketOptions);
      if (this.connections.size > before) adopt([...this.connections].at(-1) as RawConnection);
    }
  }

  return {
    startupCapabilities,
    async listen({ host, port, implicitTls = false, reusePort = false }) {
      if (implicitTls && !deps.tls) throw new RangeError("Cannot listen with implicit TLS: no certificate (--tls-cert, --tls-key)");
      const server = new ProxyServer(options(implicitTls));
      server.on("error", (err: Error) => log.warn(`smtp: ${err.message}`));
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.server.once("error", reject);
        server.listen({ port, host, ...(reusePort ? { reusePort: true } : {}) }, () => {
          server.server.off("error", reject);
          resolve();
        });
      });
      return (server.server.address() as net.AddressInfo).port;
    },
    reloadTls(tls) {
      for (const server of servers) server.updateSecureContext({ key: tls.key, cert: tls.cert });
    },
    async close({ graceMs = 30_000 } = {}) {
      closing = true;
      for (const server of servers) server.options.closeTimeout = graceMs;
      const closed = servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
      // Idle sessions go now; a session in a transaction finishes it and gets 421 on its next command.
      for (const state of sessions.values()) {
        if (!state.inData && !state.conn.session.envelope?.mailFrom) state.conn.send(421, "4.3.2 Service shutting down", false);
      }
      await Promise.all(closed);
      for (const state of sessions.values()) state.upstream?.destroy();
    },
  };
}

/** Wraps smtp-server's data stream so the proxy can stop reading it without breaking smtp-server's DATA state. */
function guardInput(stream: SMTPServerDataStream) {
  const input = new PassThrough({ highWaterMark: 256 * 1024 });
  let ended = false;
  let gone = false;
  stream.once("end", () => (ended = true));
  stream.on("error", (err) => ((gone = true), input.destroy(err)));
  // smtp-server destroys the stream without an error when the client disconnects mid-message.
  stream.once("close", () => {
    if (!ended) {
      gone = true;
      input.destroy(new Error("Client disconnected before the end of the message"));
    }
  });
  stream.pipe(input);
  return {
    input,
    clientGone: () => gone,
    /** Stops forwarding and drains the rest, so smtp-server can still read the final dot and reply. */
    abort() {
      stream.unpipe(input);
      stream.resume();
      if (!input.destroyed) input.destroy();
    },
  };
}

/** The relay's view of smtp-server's stream: read directly; `abort` drains what is left. */
function directInput(stream: SMTPServerDataStream) {
  let ended = false;
  let gone = false;
  stream.once("end", () => (ended = true));
  stream.once("close", () => (gone = !ended));
  stream.on("error", () => (gone = true));
  return {
    input: stream,
    clientGone: () => gone,
    abort() {
      stream.resume();
    },
  };
}

/** `KEY=value` parameters as the client gave them; smtp-server decoded xtext (RFC 3461 §4), so re-encode. */
export function formatParams(args: unknown): string {
  if (!args || typeof args !== "object") return "";
  let out = "";
  for (const [key, value] of Object.entries(args as Record<string, string | boolean>)) {
    out += value === true ? ` ${key}` : ` ${key}=${encodeXtext(String(value))}`;
  }
  return out;
}

function encodeXtext(value: string): string {
  return value.replace(/[^\x21-\x7e]|[+=]/g, (c) => [...Buffer.from(c, "utf8")].map((b) => `+${b.toString(16).toUpperCase().padStart(2, "0")}`).join(""));
}

function formatReply(code: number, lines: string[]): string {
  return lines.map((line, i) => `${code}${i < lines.length - 1 ? "-" : " "}${line}\r\n`).join("");
}

function smtpError(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}

/** smtp-server's bunyan-style logger, onto ours: its debug lines are the client-side trace (AUTH already redacted). */
function smtpServerLogger(log: Logger) {
  const fmt = (args: unknown[]) => {
    const [meta, template, ...rest] = args as [Record<string, unknown>, string, ...unknown[]];
    let i = 0;
    const text = String(template ?? "").replace(/%[sd]/g, () => String(rest[i++] ?? ""));
    return `${meta?.cid ?? ""} client ${[text, ...rest.slice(i).map(String)].join(" ")}`;
  };
  return {
    info: (...args: unknown[]) => log.debug(fmt(args)),
    debug: (...args: unknown[]) => log.info(fmt(args)),
    trace: () => undefined,
    warn: (...args: unknown[]) => log.warn(fmt(args)),
    error: (...args: unknown[]) => log.debug(fmt(args)),
    fatal: (...args: unknown[]) => log.error(fmt(args)),
    level: () => undefined,
    child: () => smtpServerLogger(log),
  };
}
