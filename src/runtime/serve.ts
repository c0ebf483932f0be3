/**
 * @module HTTP listening on Bun (`Bun.serve`, or the project's own server on `Bun.listen`) or Deno
 * (`Deno.serve`) behind one `serve(handler, opts)`. Handlers are web-standard and get the peer address.
 */
import type { RequestView } from "../core/http1-head.ts";
import type { HttpServerKind } from "../core/tracker-config.ts";
import type { WireHandler } from "./wire-serve.ts";

/** What a handler learns about the connection. */
export interface ServeConnInfo {
  /** Socket peer address without port ("" when unknown). */
  remoteAddress: string;
}

/** What a handler reads of a request: a web `Request` has it, and so does the mtatrack server's light one. */
export type ServeRequest = RequestView;

export type ServeHandler = (req: ServeRequest, info: ServeConnInfo) => Response | Promise<Response>;

export interface ServeOptions {
  /** "" or omitted: every interface (IPv6 and IPv4 where the system allows, else IPv4). */
  hostname?: string;
  /** 0 picks a free port. */
  port: number;
  /** PEM text of the certificate chain and key, for native TLS. */
  tls?: { cert: string; key: string } | null;
  /** A connection idle this long is closed; bounds slow clients. Bun only (Deno has no setting). @default 10 */
  idleTimeoutSeconds?: number;
  /** Largest request body read (the tracker reads none). @default 16384 */
  maxRequestBodySize?: number;
  /** Called for errors the handler threw (it should not). */
  onError?: (error: unknown) => void;
  /** Let several processes listen on the same port (SO_REUSEPORT; Linux and BSD), for worker processes. @default false */
  reusePort?: boolean;
  /**
   * "mtatrack": the project's own HTTP/1.1 server (runtime/wire-serve.ts), under Bun; "runtime": the
   * runtime's (`Bun.serve`, `Deno.serve`). Deno always uses its own. @default "runtime"
   */
  httpServer?: HttpServerKind;
  /**
   * For the mtatrack server: the same handler answering pixels and redirects as wire forms, written without
   * a Response. @default the handler
   */
  wireHandler?: WireHandler;
}

export interface ServeHandle {
  /** e.g. `http://127.0.0.1:8888/` (a wildcard host is shown as 127.0.0.1 so it can be fetched). */
  readonly url: string;
  readonly port: number;
  /**
   * Stops accepting, lets in-flight requests finish (up to `graceMs`, then closes what is left), and
   * resolves once the listener is gone.
   */
  close(opts?: { graceMs?: number }): Promise<void>;
}

// The few runtime APIs this file uses, declared here rather than pulling in either runtime's full types.
interface BunServer {
  readonly port: number;
  requestIP(req: Request): { address: string } | null;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
  readonly pendingRequests: number;
}
interface BunLike {
  serve(opts: {
    hostname: string;
    port: number;
    idleTimeout: number;
    maxRequestBodySize: number;
    tls?: { cert: string; key: string };
    reusePort?: boolean;
    development: boolean;
    fetch(req: Request, server: BunServer): Response | Promise<Response>;
    error(err: Error): Response;
  }): BunServer;
}
interface DenoHttpServer {
  readonly addr: { hostname: string; port: number };
  shutdown(): Promise<void>;
  readonly finished: Promise<void>;
}
interface DenoLike {
  serve(
    opts: { hostname: string; port: number; cert?: string; key?: string; reusePort?: boolean; onListen?: () => void; onError?: (e: unknown) => Response },
    handler: (req: Request, info: { remoteAddr: { hostname: string } }) => Response | Promise<Response>,
  ): DenoHttpServer;
}

const runtime = globalThis as unknown as { Bun?: BunLike; Deno?: DenoLike };

/**
 * Starts listening and resolves once the port is bound.
 *
 * @throws {Error} when the address cannot be bound, or on a runtime that is neither Bun nor Deno.
 * @example
 * const server = await serve((req) => new Response("hi"), { hostname: "127.0.0.1", port: 0 });
 * await fetch(server.url); await server.close();
 */
export async function serve(handler: ServeHandler, opts: ServeOptions): Promise<ServeHandle> {
  const { port, tls = null, idleTimeoutSeconds = 10, maxRequestBodySize = 16 * 1024, onError, reusePort = false } = opts;
  const wildcard = !opts.hostname;
  const fail = (err: unknown) => {
    try {
      onError?.(err);
    } catch {
      // Whatever happens in the report, the client gets our bare 500 and nothing of the error.
    }
    return new Response(null, { status: 500 });
  };
  const scheme = tls ? "https" : "http";
  const shown = (host: string, p: number) => listenUrl(scheme, host, p);

  if (runtime.Bun && opts.httpServer === "mtatrack") {
    const { serveWire } = await import("./wire-serve.ts");
    return await serveWire(opts.wireHandler ?? handler, opts);
  }
  if (runtime.Bun) {
    const Bun = runtime.Bun;
    const start = (hostname: string) =>
      Bun.serve({
        hostname,
        port,
        idleTimeout: idleTimeoutSeconds,
        maxRequestBodySize,
        reusePort,
        // Bun's default follows NODE_ENV and is development mode when it is unset, as under systemd; there an
        // error that escapes `error` is answered with a page of its message and source lines.
        development: false,
        ...(tls ? { tls } : {}),
        fetch(req, server) {
          return handler(req, { remoteAddress: server.requestIP(req)?.address ?? "" });
        },
        error: fail,
      });
    const server = bindHost(opts.hostname, start);
    return {
      url: shown(opts.hostname ?? "", server.port),
      port: server.port,
      async close({ graceMs = 10_000 } = {}) {
        // stop(false) stops accepting and resolves when in-flight requests are done; idle keep-alive
        // connections are closed. After the grace period, force whatever is left.
        const graceful = Promise.resolve(server.stop(false));
        const timedOut = await Promise.race([graceful.then(() => false), sleep(graceMs).then(() => true)]);
        if (timedOut) await server.stop(true);
      },
    };
  }
  if (runtime.Deno) {
    const Deno = runtime.Deno;
    const ac = { listening: null as null | (() => void) };
    const listening = new Promise<void>((resolve) => (ac.listening = resolve));
    const server = Deno.serve(
      { hostname: wildcard ? "0.0.0.0" : opts.hostname!, port, reusePort, ...(tls ? { cert: tls.cert, key: tls.key } : {}), onListen: () => ac.listening?.(), onError: fail },
      (req, info) => handler(req, { remoteAddress: info.remoteAddr.hostname }),
    );
    await listening;
    return {
      url: shown(opts.hostname ?? "", server.addr.port),
      port: server.addr.port,
      async close({ graceMs = 10_000 } = {}) {
        // shutdown() stops accepting and waits for in-flight requests; Deno has no forced variant, so the
        // grace period only bounds how long we wait.
        await Promise.race([server.shutdown(), sleep(graceMs)]);
      },
    };
  }
  throw new Error("Cannot listen for HTTP: this runtime is neither Bun nor Deno");
}

/**
 * Binds with `start` on `hostname`; "" or undefined is every interface: "::" takes IPv6 and IPv4 on a
 * dual-stack system, and where IPv6 is off, "0.0.0.0" takes IPv4 only.
 */
export function bindHost<T>(hostname: string | undefined, start: (hostname: string) => T): T {
  if (hostname) return start(hostname);
  try {
    return start("::");
  } catch {
    return start("0.0.0.0");
  }
}

/** The URL a listener is reached at: a wildcard host is shown as 127.0.0.1 so it can be fetched. */
export function listenUrl(scheme: string, hostname: string, port: number): string {
  return `${scheme}://${!hostname ? "127.0.0.1" : hostname.includes(":") ? `[${hostname}]` : hostname}:${port}/`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    (t as { unref?: () => void }).unref?.();
  });
}
