/**
 * @module Real SMTP peers for the wrapper's sandwich tests: a recording upstream MTA built on smtp-server
 * (it can reject, delay and drop), a scripted raw upstream for replies smtp-server cannot produce, a
 * self-signed certificate from the openssl CLI, and a raw line client.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";

/** A self-signed certificate for CN=localhost (SAN localhost and 127.0.0.1). */
export interface TestCert {
  key: string;
  cert: string;
  dir: string;
}

let cached: TestCert | null = null;
export function makeCert(): TestCert {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), "mtatrack-cert-"));
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
  ], { stdio: "ignore" });
  cached = { key: readFileSync(join(dir, "key.pem"), "utf8"), cert: readFileSync(join(dir, "cert.pem"), "utf8"), dir };
  return cached;
}

export interface Received {
  mailFrom: string;
  mailArgs: unknown;
  rcptTo: string[];
  rcptArgs: unknown[];
  user: string | null;
  secure: boolean;
  data: Buffer;
}

/** What the test upstream does; change it between cases with `set()`. */
export interface UpstreamBehaviour {
  /** Reject MAIL FROM with this code and text. */
  mail?: { code: number; text: string } | null;
  /** Reject RCPT TO for addresses matching, with this code and text. */
  rcpt?: { match: RegExp; code: number; text: string } | null;
  /** Reply after the final dot: reject with code/text. */
  data?: { code: number; text: string } | null;
  /** Wait this long before replying to the final dot. */
  dataDelayMs?: number;
  /** Destroy the connection once this many message bytes arrived. */
  dropAfterBytes?: number | null;
  /** Accepted credentials; others get 535. */
  credentials?: { user: string; pass: string };
}

export interface TestUpstream {
  port: number;
  received: Received[];
  /** Message streams that ended without the final dot (client dropped mid-DATA). */
  aborted: number;
  /** Message bodies that arrived whole (counted before the reply to the final dot, which may be delayed). */
  bodiesEnded: number;
  connections: number;
  set(b: UpstreamBehaviour): void;
  close(): Promise<void>;
}

/** Starts a recording upstream MTA on loopback. */
export async function startTestUpstream(opts: { tls?: TestCert | null; secure?: boolean; size?: number; extra?: Partial<SMTPServerOptions> } = {}): Promise<TestUpstream> {
  let behaviour: UpstreamBehaviour = {};
  const state: TestUpstream = {
    port: 0,
    received: [],
    aborted: 0,
    bodiesEnded: 0,
    connections: 0,
    set(b) {
      behaviour = b;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const err = (code: number, text: string) => Object.assign(new Error(text), { responseCode: code });
  const server = new SMTPServer({
    name: "upstream.test",
    secure: opts.secure ?? false,
    ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert } : { hideSTARTTLS: true, disabledCommands: ["STARTTLS"] }),
    size: opts.size ?? 100 * 1024 * 1024,
    authMethods: ["PLAIN", "LOGIN"],
    authOptional: true,
    allowInsecureAuth: true,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: false,
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 100,
    ...opts.extra,
    onConnect(_s, cb) {
      state.connections++;
      cb();
    },
    onAuth(auth, _session, cb) {
      const c = behaviour.credentials ?? { user: "alice", pass: "secret" };
      if (auth.username === c.user && auth.password === c.pass) cb(null, { user: auth.username });
      else cb(err(535, "Authentication credentials invalid"));
    },
    onMailFrom(_a, _s, cb) {
      if (behaviour.mail) return cb(err(behaviour.mail.code, behaviour.mail.text));
      cb();
    },
    onRcptTo(address, _s, cb) {
      const r = behaviour.rcpt;
      if (r && r.match.test(address.address)) return cb(err(r.code, r.text));
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      let bytes = 0;
      let ended = false;
      stream.on("data", (c: Buffer) => {
        chunks.push(c);
        bytes += c.length;
        if (behaviour.dropAfterBytes != null && bytes >= behaviour.dropAfterBytes) {
          const socket = [...server.connections].find((c: { id: string }) => c.id === session.id)?._socket as net.Socket | undefined;
          socket?.destroy();
        }
      });
      stream.on("end", () => {
        ended = true;
        state.bodiesEnded++;
        const finish = () => {
          if (behaviour.data) return cb(err(behaviour.data.code, behaviour.data.text));
          state.received.push({
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
            mailArgs: session.envelope.mailFrom ? session.envelope.mailFrom.args : null,
            rcptTo: session.envelope.rcptTo.map((r) => r.address),
            rcptArgs: session.envelope.rcptTo.map((r) => r.args),
            user: (session.user as string | undefined) ?? null,
            secure: session.secure,
            data: Buffer.concat(chunks),
          });
          cb(null, `Ok: queued as Q${state.received.length}`);
        };
        if (behaviour.dataDelayMs) setTimeout(finish, behaviour.dataDelayMs);
        else finish();
      });
      stream.on("close", () => {
        if (!ended) state.aborted++;
      });
      stream.on("error", () => undefined);
    },
  });
  server.on("error", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.port = (server.server.address() as net.AddressInfo).port;
  return state;
}

/**
 * A raw scripted upstream: answers each command by its verb from `script` (full reply text with CRLFs),
 * for replies smtp-server cannot produce (multi-line MAIL/RCPT replies, odd codes).
 */
export async function startScriptedUpstream(script: Record<string, string>): Promise<{ port: number; lines: string[]; close(): Promise<void> }> {
  const lines: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.write(script.GREETING ?? "220 scripted.test ESMTP\r\n");
    let buf = "";
    let inData = false;
    socket.on("data", (chunk) => {
      buf += chunk.toString("latin1");
      let nl: number;
      while ((nl = buf.indexOf("\r\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (inData) {
          if (line === ".") {
            inData = false;
            socket.write(script.DOT ?? "250 2.0.0 queued\r\n");
          }
          continue;
        }
        lines.push(line);
        const verb = line.split(/[ :]/)[0]!.toUpperCase();
        const reply = script[verb] ?? (verb === "EHLO" ? "250-scripted.test\r\n250 PIPELINING\r\n" : verb === "QUIT" ? "221 bye\r\n" : "250 2.0.0 OK\r\n");
        if (verb === "DATA" && reply.startsWith("354")) inData = true;
        socket.write(reply);
        if (verb === "QUIT") socket.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    lines,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A raw line client: `send` writes, `reply` reads the next complete (possibly multi-line) reply as raw text. */
export async function rawClient(port: number): Promise<{ send(text: string): void; reply(timeoutMs?: number): Promise<string>; closed(): Promise<void>; socket: net.Socket }> {
  const socket = net.connect({ port, host: "127.0.0.1" });
  await new Promise<void>((resolve, reject) => (socket.once("connect", resolve), socket.once("error", reject)));
  let buf = "";
  let waiting: (() => void) | null = null;
  socket.on("data", (c) => {
    buf += c.toString("utf8");
    waiting?.();
  });
  socket.on("error", () => undefined);
  const takeReply = (): string | null => {
    let pos = 0;
    while (true) {
      const nl = buf.indexOf("\r\n", pos);
      if (nl < 0) return null;
      const line = buf.slice(pos, nl);
      pos = nl + 2;
      if (/^\d{3}( |$)/.test(line)) {
        const out = buf.slice(0, pos);
        buf = buf.slice(pos);
        return out;
      }
    }
  };
  return {
    socket,
    send: (text) => void socket.write(text),
    async reply(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (true) {
        const r = takeReply();
        if (r !== null) return r;
        if (Date.now() > deadline || socket.destroyed) throw new Error(`No reply (buffer: ${JSON.stringify(buf)})`);
        await new Promise<void>((resolve) => {
          waiting = resolve;
          setTimeout(resolve, 50);
        });
      }
    },
    closed: () => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once("close", () => resolve()))),
  };
}

import { Readable } from "node:stream";
import type { MessageRewriter, RewriteSummary } from "../../src/wrapper/types.ts";
import { createSmtpProxy, type SmtpProxyDeps, type SmtpProxyHandle } from "../../src/wrapper/smtp-proxy.ts";

/**
 * A stand-in for the real rewriter (issue 7) with the same contract: it reads the whole message, then
 * returns it with one header line added that names the link recipient, so tests can see what it was given.
 */
export function headerRewriter(seen: Array<string | null> = []): MessageRewriter {
  return {
    async rewrite(input, envelope) {
      const chunks: Buffer[] = [];
      for await (const c of input as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
      seen.push(envelope.rcpt);
      const bytes = Buffer.concat([Buffer.from(`X-Test-Rcpt: ${envelope.rcpt ?? "(none)"}\r\n`), ...chunks]);
      const summary: RewriteSummary = {
        outcome: "rewritten", reason: null, detail: null, messageId: "0000aaaabbbbccccdddd", links: 1, skippedLinks: 0,
        pixels: 1, partsRewritten: 1, bytesIn: bytes.length - 20, bytesOut: bytes.length,
      };
      return { summary, size: bytes.length, stream: () => Readable.from([bytes]), bytes: async () => bytes, close: async () => undefined };
    },
    close: async () => undefined,
  };
}

/** Starts a proxy in front of `upstreamPort` on loopback; `over` overrides any dependency. */
export async function startProxy(upstreamPort: number, over: Partial<SmtpProxyDeps> = {}): Promise<{ port: number; proxy: SmtpProxyHandle; close(): Promise<void> }> {
  const { upstream, ...rest } = over;
  const proxy = await createSmtpProxy({
    name: "proxy.test",
    ...rest,
    upstream: { ehloName: "wrapper.test", commandTimeoutMs: 5000, dataTimeoutMs: 5000, connectTimeoutMs: 3000, ...upstream, host: "127.0.0.1", port: upstreamPort },
  });
  const port = await proxy.listen({ host: "127.0.0.1", port: 0 });
  return { port, proxy, close: () => proxy.close({ graceMs: 500 }) };
}

export interface SandwichOptions {
  /** Options for the test upstream. */
  upstream?: Parameters<typeof startTestUpstream>[0];
  /** What the upstream does, set before the proxy starts. */
  behaviour?: UpstreamBehaviour;
  /** Proxy dependencies, given the started upstream (for its port). */
  proxy?: (upstream: TestUpstream) => Partial<SmtpProxyDeps>;
}

/** Runs `body` against a fresh recording upstream with a proxy in front of it, and closes both however it ends. */
export async function withSandwich(opts: SandwichOptions, body: (upstream: TestUpstream, port: number) => Promise<void>): Promise<void> {
  const upstream = await startTestUpstream(opts.upstream);
  if (opts.behaviour) upstream.set(opts.behaviour);
  const { port, close } = await startProxy(upstream.port, opts.proxy?.(upstream));
  try {
    await body(upstream, port);
  } finally {
    await close();
    await upstream.close();
  }
}
