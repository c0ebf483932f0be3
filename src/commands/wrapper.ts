/** @module `mtatrack wrapper`: the SMTP proxy in front of the MTA. Thin: flags → config → rewriter, proxy → listen → signals → drain. */
import { createWriteStream, readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { hostname as osHostname } from "node:os";
import { defineCommand } from "citty";
import { CLIError } from "../errors.ts";
import { waitForSignal } from "../runtime/signals.ts";
import { parseCredentials, resolveWrapperConfig } from "../wrapper/smtp-config.ts";
import { checkPassword } from "../runtime/check-password.ts";
import { keysFromArgs, loggerFromArgs } from "./_shared.ts";
import { wrapperArgs } from "./_wrapper-args.ts";

export default defineCommand({
  meta: { name: "wrapper", description: "SMTP proxy that accepts incoming messages from your downstream client, applies engagement-tracking (wrapping links and adding open tracking pixels) and relays on to an upstream server" },
  args: wrapperArgs,
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

