/** @module `mtatrack wrapper`: the SMTP proxy in front of the MTA. Thin: flags → config → rewriter, proxy → listen → signals → drain. */
import { createWriteStream, readFileSync } from "node:fs";
import { X509Certificate, timingSafeEqual, createHash } from "node:crypto";
import { hostname as osHostname } from "node:os";
import { defineCommand } from "citty";
import { CLIError } from "../errors.ts";
import { waitForSignal } from "../runtime/signals.ts";
import { parseCredentials, resolveWrapperConfig } from "../wrapper/smtp-config.ts";
import { keysFromArgs, linkKeyArgs, logArgs, loggerFromArgs } from "./_shared.ts";

const str = (description: string, valueHint: string, alias?: string) => ({ type: "string", description, valueHint, ...(alias ? { alias: [alias] } : {}) }) as const;
const bool = (description: string, alias?: string) => ({ type: "boolean", description, ...(alias ? { alias: [alias] } : {}) }) as const;

export default defineCommand({
  meta: { name: "wrapper", description: "SMTP proxy that accepts incoming messages from your downstream client, applies engagement-tracking (wrapping links and adding open tracking pixels) and relays on to an upstream server" },
  args: {
    "in-hostport": str("Listen on host:port (default localhost:587)", "host:port", "in_hostport"),
    "out-hostport": str("Upstream MTA host:port (default smtp.sparkpostmail.com:587)", "host:port", "out_hostport"),
    "tls-hostport": str("Also listen with implicit TLS (SMTPS, e.g. :465); needs --tls-cert", "host:port"),
    "tracking-url": str('Tracking base URL (default http://localhost:8888; env MTATRACK_TRACKING_URL); "" relays without any rewriting', "url", "tracking_url"),
    "track-open": bool("Open pixel before </body> (default true; --track-open=false or --no-track-open to disable)", "track_open"),
    "track-initial-open": bool("initial_open pixel after <body> (default false)", "track_initial_open"),
    "track-click": bool("Wrap <a href> in tracked links (default false)", "track_click"),
    "track-text": bool("Also track links in text/plain parts (default false)"),
    "track-signed": bool("Rewrite DKIM-signed messages too, breaking the signature (default false)"),
    "link-format": str("Token format of new links: v2 (signed, default) or v1 (the original's)", "v1|v2"),
    "tls-cert": str("PEM certificate chain: offer STARTTLS downstream (with --tls-key; reloaded on SIGHUP)", "path", "certfile"),
    "tls-key": str("PEM private key for --tls-cert", "path", "privkeyfile"),
    "upstream-insecure": bool("Do not verify the upstream MTA's certificate", "insecure_skip_verify"),
    "upstream-ca": str("Extra CA certificate(s) (PEM) to trust for the upstream MTA", "path"),
    "upstream-tls": str("auto (STARTTLS when offered; implicit TLS on port 465), implicit, starttls (required), none", "mode"),
    "upstream-auth-file": str("user:password the wrapper itself logs in to the MTA with", "path"),
    auth: str("forward (client AUTH goes to the MTA, default), local (checked against --auth-file), none", "mode"),
    "auth-file": str("user:password lines for --auth local", "path"),
    "rcpt-policy": str("split: one recipient per tracked message, 452 4.5.3 to the next (default); shared: one copy, no recipient in links", "policy"),
    hostname: str("Name in the greeting (default: the certificate's CN, else the host name)", "name"),
    "ehlo-name": str("Name the wrapper sends in EHLO upstream (default: --hostname)", "name"),
    "max-size": str("Message size limit when the MTA announces none or a larger one (default 64M)", "bytes"),
    "max-clients": str("Concurrent client connections (default 1000)", "n"),
    "idle-timeout": str("Client inactivity limit, between commands and within DATA (default 60s)", "duration"),
    "command-timeout": str("Wait for an upstream reply (default 300s)", "duration"),
    "data-timeout": str("Wait for the upstream reply to the final dot (default 600s)", "duration"),
    "drain-timeout": str("On SIGTERM, let transactions in flight finish for this long (default 30s)", "duration"),
    "metrics-listen": str("Serve Prometheus /metrics on host:port", "host:port"),
    "reuse-port": bool("Share the SMTP ports with other wrapper processes (SO_REUSEPORT): one process per core"),
    verbose: bool("Log the SMTP conversation on both legs (AUTH secrets masked)"),
    "downstream-debug": str("File receiving the client-side conversation and DATA", "path", "downstream_debug"),
    "upstream-data-debug": str("File receiving each message as sent upstream", "path", "upstream_data_debug"),
    ...linkKeyArgs,
    ...logArgs,
  },
  async run({ args }) {
    const config = (() => {
      try {
        return resolveWrapperConfig(args, process.env);
      } catch (err) {
        throw new CLIError((err as Error).message, "EARG", { cause: err });
      }
    })();
    const log = loggerFromArgs(args, process.env, "wrapper");
    const read = (path: string, what: string) => {
      try {
        return readFileSync(path, "utf8");
      } catch (err) {
        throw new CLIError(`Cannot read ${what} "${path}": ${(err as Error).message}`, "EARG", { cause: err });
      }
    };
    const loadTls = () => (config.tls ? { cert: read(config.tls.certPath, "TLS certificate"), key: read(config.tls.keyPath, "TLS key") } : null);
    const tls = loadTls();
    const name = config.hostname ?? (tls ? /CN=([^,\n/]+)/.exec(new X509Certificate(tls.cert).subject)?.[1] : undefined) ?? osHostname();
    const creds = (path: string | null) => (path ? parseCredentials(read(path, "credentials file")) : null);
    const local = creds(config.authFile);
    const own = creds(config.upstream.authFile);
    const [upstreamUser, upstreamPassword] = own ? [...own.entries()][0] ?? [] : [];
    const [{ createSmtpProxy }, { createProxyMetrics }, { listenMetrics }] = await Promise.all([
      import("../wrapper/smtp-proxy.ts"), import("../wrapper/smtp-metrics.ts"), import("../runtime/metrics-listener.ts")]);
    const rewriter = config.trackingUrl === "" ? null : await (async () => {
      const [{ createMessageRewriter }, { createLinkCodec }, { nativePrimitives }] = await Promise.all([
        import("../wrapper/message-rewriter.ts"), import("../core/link-codec.ts"), import("../runtime/codec-primitives.ts")]);
      const keys = keysFromArgs(args, process.env);
      if (keys.length === 0 && config.linkFormat === "v2") throw new CLIError("Cannot sign v2 links without a key: give --link-key kid:secret (or MTATRACK_LINK_KEYS), or --link-format v1", "EARG");
      const codec = createLinkCodec({ primitives: nativePrimitives, keys, acceptV1: true });
      return createMessageRewriter({ codec, trackingUrl: config.trackingUrl, options: config.tracking, settings: { linkFormat: config.linkFormat }, log });
    })();
    const metrics = createProxyMetrics();
    const debugFile = (path: string | null) => (path ? createWriteStream(path, { flags: "w" }) : null);
    const proxy = await createSmtpProxy({
      upstream: { host: config.upstream.host, port: config.upstream.port, implicitTls: config.upstream.implicitTls, startTls: config.upstream.startTls, requireTls: config.upstream.requireTls,
        tls: { verify: config.upstream.verify, ca: config.upstream.caPath ? read(config.upstream.caPath, "upstream CA") : undefined },
        ehloName: config.ehloName ?? name, commandTimeoutMs: config.commandTimeoutMs, dataTimeoutMs: config.dataTimeoutMs },
      upstreamCredentials: upstreamUser !== undefined ? { user: upstreamUser, password: upstreamPassword ?? "" } : null,
      rewriter, rcptPolicy: config.rcptPolicy, tls, name, log, metrics, verbose: config.verbose,
      auth: config.auth === "local" ? { kind: "local", verify: (u, p) => checkPassword(local!, u, p) } : { kind: config.auth },
      maxMessageBytes: config.maxMessageBytes, maxClients: config.maxClients, idleTimeoutMs: config.idleTimeoutMs,
      downstreamDebug: debugFile(config.downstreamDebug), upstreamDataDebug: debugFile(config.upstreamDataDebug),
    });
    const listenHost = (h: string) => h || "::";
    const port = await proxy.listen({ host: listenHost(config.listen.hostname), port: config.listen.port, reusePort: config.reusePort }).catch((err: Error) => {
      throw new CLIError(`Cannot listen on ${config.listen.hostname}:${config.listen.port}: ${err.message}`, "ERUNTIME", { cause: err });
    });
    const tlsPort = config.tlsListen ? await proxy.listen({ host: listenHost(config.tlsListen.hostname), port: config.tlsListen.port, implicitTls: true, reusePort: config.reusePort }) : null;
    const metricsListener = config.metricsListen
      ? await listenMetrics(async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }), { host: config.metricsListen.hostname || "::", port: config.metricsListen.port })
      : null;
    log.info(`Starting smtp proxy service on port ${port}${tlsPort ? ` and ${tlsPort} (implicit TLS)` : ""} as ${name}; upstream ${config.upstream.host}:${config.upstream.port}`);
    log.info(`Engagement tracking URL: ${config.trackingUrl || '"" (plain relay)'}, track_open ${config.tracking.trackOpen}, track_initial_open ${config.tracking.trackInitialOpen}, track_click ${config.tracking.trackClick}`);
    if (!tls) log.info("No --tls-cert/--tls-key: the proxy will NOT offer STARTTLS to clients");
    if (metricsListener) log.info(`Metrics on ${metricsListener.url}/metrics`);
    for (;;) {
      const signal = await waitForSignal(["SIGINT", "SIGTERM", "SIGHUP"]);
      if (signal !== "SIGHUP") break;
      try {
        const fresh = loadTls();
        if (fresh) (proxy.reloadTls(fresh), log.info("SIGHUP: reloaded the TLS certificate and key"));
      } catch (err) {
        log.error(`SIGHUP: kept the old certificate: ${(err as Error).message}`);
      }
    }
    log.info(`Stopping: transactions in flight get up to ${config.drainTimeoutMs} ms`);
    await proxy.close({ graceMs: config.drainTimeoutMs });
    await Promise.all([metricsListener?.close(), rewriter?.close()]);
    log.info("Stopped");
  },
});

/** Compares in constant time (hashes first, so lengths do not leak either). */
export function checkPassword(creds: Map<string, string>, user: string, password: string): boolean {
  const expected = creds.get(user);
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(expected ?? "\0no user"), digest(password)) && expected !== undefined;
}
