/**
 * @module The one place a resolved wrapper config becomes a running SMTP proxy: certificate, credentials,
 * rewriter (with its metrics on the proxy's registry), proxy, listeners. `mtatrack wrapper` and
 * `mtatrack serve` both start it here, so their wiring cannot drift apart; each command keeps its own log
 * lines and signal handling.
 */
import { X509Certificate } from "node:crypto";
import { createWriteStream } from "node:fs";
import { hostname as osHostname } from "node:os";
import { createLinkCodec, type LinkKey } from "../core/link-codec.ts";
import { CLIError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { checkPassword } from "../runtime/check-password.ts";
import { nativePrimitives } from "../runtime/codec-primitives.ts";
import { listenMetrics } from "../runtime/metrics-listener.ts";
import { createMessageRewriter } from "../wrapper/message-rewriter.ts";
import { createRewriteMetrics } from "../wrapper/rewrite-metrics.ts";
import { parseCredentials, type WrapperConfig } from "../wrapper/smtp-config.ts";
import { createProxyMetrics } from "../wrapper/smtp-metrics.ts";
import { createSmtpProxy } from "../wrapper/smtp-proxy.ts";
import { listening, readFlagFile } from "./_start-helpers.ts";

/**
 * Refuses a config that would have to sign v2 links without a key (a plain relay, `trackingUrl` "", needs none).
 * @throws {CLIError} EARG.
 */
export function requireSigningKey(config: Readonly<WrapperConfig>, keys: readonly LinkKey[]): void {
  if (config.trackingUrl !== "" && config.linkFormat !== "v1" && keys.length === 0) {
    throw new CLIError("Cannot sign v2 links without a key: give --link-key kid:secret (or MTATRACK_LINK_KEYS), or --link-format v1", "EARG");
  }
}

/** What the wrapper runs on besides its config. */
export interface WrapperPartDeps {
  /** The link keys; the first signs. Unused for a plain relay. */
  keys: readonly LinkKey[];
  log: Logger;
}

/** A listening SMTP proxy. */
export interface WrapperPart {
  /** The bound SMTP port, and the implicit-TLS one (or null). */
  readonly port: number;
  readonly tlsPort: number | null;
  /** The name in the greeting: --hostname, else the certificate's CN, else the host name. */
  readonly name: string;
  /** The metrics listener's URL (no path), or null. */
  readonly metricsUrl: string | null;
  /** Re-reads the certificate and key (SIGHUP); keeps the old pair, with an error logged, if they cannot be read. */
  reloadTls(): void;
  /** Lets transactions in flight finish for up to `config.drainTimeoutMs`, then closes everything. */
  close(): Promise<void>;
}

/**
 * Builds the rewriter (none when `config.trackingUrl` is "") and the proxy, and listens on `config.listen`,
 * `config.tlsListen` and `config.metricsListen`.
 * @throws {CLIError} EARG for an unreadable file or a missing signing key; ERUNTIME for a port that cannot be bound (what was started is closed).
 */
export async function startWrapperPart(config: Readonly<WrapperConfig>, deps: WrapperPartDeps): Promise<WrapperPart> {
  const { log } = deps;
  const loadTls = () => (config.tls ? { cert: readFlagFile(config.tls.certPath, "TLS certificate"), key: readFlagFile(config.tls.keyPath, "TLS key") } : null);
  const tls = loadTls();
  const name = config.hostname ?? (tls ? /CN=([^,\n/]+)/.exec(new X509Certificate(tls.cert).subject)?.[1] : undefined) ?? osHostname();
  const creds = (path: string | null) => (path ? parseCredentials(readFlagFile(path, "credentials file")) : null);
  const local = creds(config.authFile);
  const [upstreamUser, upstreamPassword] = [...(creds(config.upstream.authFile)?.entries() ?? [])][0] ?? [];
  requireSigningKey(config, deps.keys);
  const metrics = createProxyMetrics();
  // The rewriter counts onto the proxy's registry, so DKIM skips and rewrite outcomes show on the one /metrics.
  const rewriter = config.trackingUrl === "" ? null : createMessageRewriter({ codec: createLinkCodec({ primitives: nativePrimitives, keys: [...deps.keys], acceptV1: true }),
    trackingUrl: config.trackingUrl, options: config.tracking, settings: { linkFormat: config.linkFormat }, log, metrics: createRewriteMetrics(metrics.registry) });
  const debugFile = (path: string | null) => (path ? createWriteStream(path, { flags: "w" }) : null);
  const u = config.upstream;
  const proxy = await createSmtpProxy({
    upstream: { host: u.host, port: u.port, implicitTls: u.implicitTls, startTls: u.startTls, requireTls: u.requireTls,
      tls: { verify: u.verify, ca: u.caPath ? readFlagFile(u.caPath, "upstream CA") : undefined },
      ehloName: config.ehloName ?? name, commandTimeoutMs: config.commandTimeoutMs, dataTimeoutMs: config.dataTimeoutMs },
    upstreamCredentials: upstreamUser !== undefined ? { user: upstreamUser, password: upstreamPassword ?? "" } : null,
    rewriter, rcptPolicy: config.rcptPolicy, tls, name, log, metrics, verbose: config.verbose,
    auth: config.auth === "local" ? { kind: "local", verify: (user, pass) => checkPassword(local!, user, pass) } : { kind: config.auth },
    maxMessageBytes: config.maxMessageBytes, maxClients: config.maxClients, idleTimeoutMs: config.idleTimeoutMs,
    downstreamDebug: debugFile(config.downstreamDebug), upstreamDataDebug: debugFile(config.upstreamDataDebug),
  });
  let metricsListener: Awaited<ReturnType<typeof listenMetrics>> | null = null;
  const close = async () => {
    await proxy.close({ graceMs: config.drainTimeoutMs });
    await Promise.all([metricsListener?.close(), rewriter?.close()]);
  };
  // "" is every interface; reusePort lets several wrapper processes share the ports (refused by serve, so false there).
  const at = (a: { hostname: string; port: number }) => ({ host: a.hostname || "::", port: a.port, reusePort: config.reusePort });
  let port: number;
  let tlsPort: number | null = null;
  try {
    port = await listening(`${config.listen.hostname}:${config.listen.port}`, proxy.listen(at(config.listen)));
    if (config.tlsListen) tlsPort = await listening(`${config.tlsListen.hostname}:${config.tlsListen.port}`, proxy.listen({ ...at(config.tlsListen), implicitTls: true }));
    if (config.metricsListen) {
      const { host, port: metricsPort } = at(config.metricsListen);
      metricsListener = await listening(`the metrics port ${metricsPort}`,
        listenMetrics(async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }), { host, port: metricsPort }));
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    port,
    tlsPort,
    name,
    metricsUrl: metricsListener?.url ?? null,
    close,
    reloadTls() {
      try {
        const fresh = loadTls();
        if (fresh) (proxy.reloadTls(fresh), log.info("SIGHUP: reloaded the TLS certificate and key"));
      } catch (err) {
        log.error(`SIGHUP: kept the old certificate: ${(err as Error).message}`);
      }
    },
  };
}
