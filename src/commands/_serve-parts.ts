/**
 * @module The three parts of `mtatrack serve`, each started from its resolved config on the one shared
 * store and returned as a handle with `close()`. Command-layer glue (it reads certificate and range files),
 * kept apart so serve.ts stays thin.
 */
import { createWriteStream, readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { hostname as osHostname } from "node:os";
import { createCidrSet } from "../core/cidr-set.ts";
import type { FeederConfig } from "../core/feeder-config.ts";
import type { LinkKey } from "../core/link-codec.ts";
import { createLinkCodec } from "../core/link-codec.ts";
import { builtinMachineRanges, parseRangeText, type MachineRangeList } from "../core/machine-ranges.ts";
import type { TrackerConfig } from "../core/tracker-config.ts";
import { CLIError } from "../errors.ts";
import { startFeeder } from "../feeder/feeder.ts";
import { FeederMetrics } from "../feeder/metrics.ts";
import { createSinks } from "../feeder/sinks.ts";
import type { Logger } from "../log.ts";
import { checkPassword } from "../runtime/check-password.ts";
import { nativePrimitives } from "../runtime/codec-primitives.ts";
import { listenMetrics } from "../runtime/metrics-listener.ts";
import { serve, type ServeHandle } from "../runtime/serve.ts";
import type { Store } from "../stores/types.ts";
import { createTracker } from "../tracker/tracker.ts";
import { openSpool } from "../tracker/spool.ts";
import { createMessageRewriter } from "../wrapper/message-rewriter.ts";
import { parseCredentials, type WrapperConfig } from "../wrapper/smtp-config.ts";
import { createProxyMetrics } from "../wrapper/smtp-metrics.ts";
import { createSmtpProxy } from "../wrapper/smtp-proxy.ts";

/** A started part. */
export interface Part {
  close(): Promise<void>;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new CLIError(`Cannot read ${what} "${path}": ${(err as Error).message}`, "EARG", { cause: err });
  }
}

async function listening<T>(what: string, p: Promise<T>): Promise<T> {
  return await p.catch((err: Error) => {
    throw new CLIError(`Cannot listen on ${what}: ${err.message}`, "ERUNTIME", { cause: err });
  });
}

/** Proxies that only fetch images say nothing about clicks (the tracker command judges them the same way). */
const OPENS_ONLY = new Set(["apple-mpp", "google-proxy", "yahoo-proxy"]);

/** The tracker on `config.listen`; `url` is where it answers (a wildcard host shown as localhost). */
export async function startTrackerPart(p: { config: Readonly<TrackerConfig>; spoolPath: string; keys: LinkKey[]; acceptV1: boolean; store: Store; log: Logger }): Promise<Part & { url: string }> {
  const { config, log } = p;
  const extraRanges: MachineRangeList[] = config.machineRanges.map(({ reason, path }) => ({
    reason, applies: OPENS_ONLY.has(reason) ? "opens" : "all", source: path, cidrs: parseRangeText(readText(path, "machine ranges")) }));
  const tls = config.tls ? { cert: readText(config.tls.certPath, "TLS certificate"), key: readText(config.tls.keyPath, "TLS key") } : null;
  const spool = (() => {
    try {
      return openSpool({ path: p.spoolPath, maxBytes: config.spoolMaxBytes });
    } catch (err) {
      throw new CLIError((err as Error).message, "ERUNTIME", { cause: err });
    }
  })();
  const codec = createLinkCodec({ primitives: nativePrimitives, keys: p.keys, acceptV1: p.acceptV1 });
  const tracker = createTracker({ store: p.store, codec, spool, log, trustedProxies: createCidrSet(config.trustProxy), ipTruncate: config.ipTruncate,
    serverHeader: config.serverHeader, machineRanges: [...builtinMachineRanges, ...extraRanges], fastClickMs: config.fastClickMs,
    storeTimeoutMs: config.storeTimeoutMs, serveMetricsOnMain: !config.metricsListen });
  const onError = (err: unknown) => log.error(`Request failed: ${(err as Error)?.stack ?? err}`);
  const servers: ServeHandle[] = [];
  const close = async () => {
    await Promise.all(servers.map((s) => s.close()));
    await tracker.close({ deadlineMs: 10_000 });
    spool.close();
  };
  try {
    servers.push(await listening(`port ${config.listen.port}`, serve(tracker.handler, { ...config.listen, tls, onError })));
    if (config.metricsListen) servers.push(await listening(`the metrics port ${config.metricsListen.port}`, serve(tracker.metricsHandler, { ...config.metricsListen, onError })));
  } catch (err) {
    await close();
    throw err;
  }
  const host = config.listen.hostname === "" ? "localhost" : config.listen.hostname.includes(":") ? `[${config.listen.hostname}]` : config.listen.hostname;
  const url = `${tls ? "https" : "http"}://${host}:${servers[0]!.port}`;
  log.info(`Listening on ${url} (spool ${p.spoolPath}${servers[1] ? `, metrics on ${servers[1].url}` : ""})`);
  return { url, close };
}

/** The SMTP proxy with the message rewriter (none when `trackingUrl` is ""); v2 links need a key, which the caller checked. */
export async function startWrapperPart(p: { config: Readonly<WrapperConfig>; keys: LinkKey[]; log: Logger }): Promise<Part & { port: number; reloadTls(): void }> {
  const { config, log } = p;
  const loadTls = () => (config.tls ? { cert: readText(config.tls.certPath, "TLS certificate"), key: readText(config.tls.keyPath, "TLS key") } : null);
  const tls = loadTls();
  const name = config.hostname ?? (tls ? /CN=([^,\n/]+)/.exec(new X509Certificate(tls.cert).subject)?.[1] : undefined) ?? osHostname();
  const creds = (path: string | null) => (path ? parseCredentials(readText(path, "credentials file")) : null);
  const local = creds(config.authFile);
  const [upstreamUser, upstreamPassword] = [...(creds(config.upstream.authFile)?.entries() ?? [])][0] ?? [];
  const rewriter = config.trackingUrl === "" ? null : createMessageRewriter({ codec: createLinkCodec({ primitives: nativePrimitives, keys: p.keys, acceptV1: true }),
    trackingUrl: config.trackingUrl, options: config.tracking, settings: { linkFormat: config.linkFormat }, log });
  const metrics = createProxyMetrics();
  const debugFile = (path: string | null) => (path ? createWriteStream(path, { flags: "w" }) : null);
  const u = config.upstream;
  const proxy = await createSmtpProxy({
    upstream: { host: u.host, port: u.port, implicitTls: u.implicitTls, startTls: u.startTls, requireTls: u.requireTls,
      tls: { verify: u.verify, ca: u.caPath ? readText(u.caPath, "upstream CA") : undefined },
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
  const at = (a: { hostname: string; port: number }) => ({ host: a.hostname || "::", port: a.port });
  let port: number;
  let tlsPort: number | null = null;
  try {
    port = await listening(`${config.listen.hostname}:${config.listen.port}`, proxy.listen(at(config.listen)));
    if (config.tlsListen) tlsPort = await listening(`${config.tlsListen.hostname}:${config.tlsListen.port}`, proxy.listen({ ...at(config.tlsListen), implicitTls: true }));
    if (config.metricsListen) {
      metricsListener = await listening(`the metrics port ${config.metricsListen.port}`,
        listenMetrics(async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }), at(config.metricsListen)));
    }
  } catch (err) {
    await close();
    throw err;
  }
  log.info(`Listening on ${config.listen.hostname || "*"}:${port}${tlsPort ? ` and ${tlsPort} (implicit TLS)` : ""} as ${name}; upstream ${u.host}:${u.port}` +
    `${tls ? "" : "; no --smtp-tls-cert, so no STARTTLS for clients"}${metricsListener ? `; metrics on ${metricsListener.url}/metrics` : ""}`);
  log.info(`Tracking URL ${config.trackingUrl || '"" (plain relay)'}; track_open ${config.tracking.trackOpen}, track_initial_open ${config.tracking.trackInitialOpen}, track_click ${config.tracking.trackClick}`);
  return {
    port,
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

/** The feeder on the shared store, one runner per configured sink. */
export async function startFeederPart(p: { config: FeederConfig; store: Store; consumer: string; log: Logger }): Promise<Part> {
  const { config, log } = p;
  const metrics = new FeederMetrics();
  const listener = config.metricsListen ? await listening(`the metrics port ${config.metricsListen.port}`, listenMetrics(() => metrics.render(), config.metricsListen)) : null;
  const feeder = startFeeder({ store: p.store, sinks: createSinks(config.sinks, { leaseMs: config.leaseMs }), metrics, log, leaseMs: config.leaseMs, consumer: p.consumer,
    concurrency: config.concurrency, shutdownTimeoutMs: config.shutdownTimeoutMs });
  log.info(`Feeding ${config.sinks.map((s) => (s.kind === "file" && s.path === "-" ? "stdout (NDJSON)" : s.name)).join(", ")}${listener ? `; metrics on ${listener.url}/metrics` : ""}`);
  return {
    async close() {
      await feeder.close();
      await listener?.close();
    },
  };
}
