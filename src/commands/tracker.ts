/** @module `mtatrack tracker`: the open/click HTTP service. Thin: flags → config → store, spool, tracker → listen → signal → drain → close. */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { defineCommand } from "citty";
import { createCidrSet } from "../core/cidr-set.ts";
import { builtinMachineRanges, parseRangeText } from "../core/machine-ranges.ts";
import { forWorker, resolveTrackerConfig } from "../core/tracker-config.ts";
import { CLIError } from "../errors.ts";
import { waitForSignal } from "../runtime/signals.ts";
import { keysFromArgs, linkKeyArgs, logArgs, loggerFromArgs, storeArgs } from "./_shared.ts";

const original = { type: "string", description: "Listen on host:port; :8888 is every interface (default :8888)", valueHint: "host:port" } as const;

export default defineCommand({
  meta: { name: "tracker", description: "Web service that decodes client email opens and clicks: the pixel for opens, a 302 for clicks, one queued event per hit. Runs plain HTTP behind nginx (or native TLS)" },
  args: {
    "in-hostport": { ...original, alias: ["in_hostport"] },
    "trust-proxy": { type: "string", description: "Believe X-Real-IP/Forwarded/X-Forwarded-For only from these CIDRs (or loopback, private, linklocal; comma-separated; default loopback; env MTATRACK_TRUST_PROXY)", valueHint: "cidrs" },
    "ip-truncate": { type: "string", description: "Store client addresses truncated: none, 24, 24/48 (IPv4/IPv6 prefix) (default none)", valueHint: "bits" },
    "server-header": { type: "string", description: "Server header of every response (default msys-http, as SparkPost and the original)", valueHint: "text" },
    "metrics-listen": { type: "string", description: "Serve /metrics and /healthz on this host:port only (default: on the main listener)", valueHint: "host:port" },
    spool: { type: "string", description: "Local spool file for events while the store is down (default: tracker-<port>.spool beside the default store; env MTATRACK_SPOOL)", valueHint: "path" },
    "spool-max": { type: "string", description: "Cap on unreplayed spool bytes, e.g. 512M (default 512M)", valueHint: "bytes" },
    "store-timeout": { type: "string", description: "Store calls slower than this fail over to the spool, e.g. 1000ms (default 1s)", valueHint: "duration" },
    "fast-click": { type: "string", description: "A click this soon after the message's first event is flagged machine (default 2s; 0 disables)", valueHint: "duration" },
    "machine-ranges": { type: "string", description: "Extra address list REASON=FILE (one CIDR per line or Apple's egress-ip-ranges.csv), e.g. apple-mpp=egress.csv; repeatable", valueHint: "reason=file" },
    "tls-cert": { type: "string", description: "PEM certificate chain: serve HTTPS natively (with --tls-key)", valueHint: "path" },
    "tls-key": { type: "string", description: "PEM private key for --tls-cert", valueHint: "path" },
    workers: { type: "string", description: "Worker processes sharing the port, or auto (one per CPU); each has its own spool (<spool>.w<N>) and metrics port (--metrics-listen port + N - 1) (default 1; Bun and the binary only)", valueHint: "n" },
    ...linkKeyArgs,
    ...storeArgs,
    ...logArgs,
  },
  async run({ args }) {
    const resolved = (() => {
      try {
        return resolveTrackerConfig(args, process.env);
      } catch (err) {
        throw new CLIError((err as Error).message, "EARG", { cause: err });
      }
    })();
    const keys = keysFromArgs(args, process.env);
    const { superviseWorkers, workerIndex } = await import("../runtime/workers.ts");
    const worker = workerIndex(process.env);
    const log = loggerFromArgs(args, process.env, worker ? `tracker:${worker}` : "tracker");
    const workers = resolved.workers || availableParallelism();
    if (workers > 1 && !worker) {
      process.exitCode = await superviseWorkers({ count: workers, log });
      return;
    }
    const read = (path: string, what: string) => {
      try {
        return readFileSync(path, "utf8");
      } catch (err) {
        throw new CLIError(`Cannot read ${what} "${path}": ${(err as Error).message}`, "EARG", { cause: err });
      }
    };
    const extraRanges = resolved.machineRanges.map(({ reason, path }) => ({
      reason, applies: reason === "apple-mpp" || reason === "google-proxy" || reason === "yahoo-proxy" ? "opens" as const : "all" as const,
      source: path, cidrs: parseRangeText(read(path, "machine ranges")) }));
    const tls = resolved.tls ? { cert: read(resolved.tls.certPath, "TLS certificate"), key: read(resolved.tls.keyPath, "TLS key") } : null;
    const [{ openStore, storeUrlFromArgs, defaultStoreUrl }, { openSpool }, { createTracker }, { createLinkCodec }, { nativePrimitives }, { serve }] = await Promise.all([
      import("../stores/open-store.ts"), import("../tracker/spool.ts"), import("../tracker/tracker.ts"), import("../core/link-codec.ts"),
      import("../runtime/codec-primitives.ts"), import("../runtime/serve.ts")]);
    if (keys.length === 0 && !args["accept-v1"]) log.warn("No link keys (--link-key or MTATRACK_LINK_KEYS) and v1 not accepted: every token will be refused");
    const defaultSpool = join(dirname(defaultStoreUrl(process.env).slice("sqlite:".length)), `tracker-${resolved.listen.port}.spool`);
    const config = worker ? forWorker(resolved, worker, defaultSpool) : resolved;
    const spoolPath = config.spoolPath ?? defaultSpool;
    const store = await openStore(storeUrlFromArgs(args, process.env), { redis: { enableAutoPipelining: true } });
    const spool = (() => {
      try {
        return openSpool({ path: spoolPath, maxBytes: config.spoolMaxBytes });
      } catch (err) {
        throw new CLIError((err as Error).message, "ERUNTIME", { cause: err });
      }
    })();
    const codec = createLinkCodec({ primitives: nativePrimitives, keys, acceptV1: Boolean(args["accept-v1"]) });
    const tracker = createTracker({ store, codec, spool, log, trustedProxies: createCidrSet(config.trustProxy), ipTruncate: config.ipTruncate,
      serverHeader: config.serverHeader, machineRanges: [...builtinMachineRanges, ...extraRanges], fastClickMs: config.fastClickMs,
      storeTimeoutMs: config.storeTimeoutMs, serveMetricsOnMain: !config.metricsListen });
    const onError = (err: unknown) => log.error(`Request failed: ${(err as Error)?.stack ?? err}`);
    const server = await serve(tracker.handler, { ...config.listen, tls, onError, reusePort: worker !== null });
    const metricsServer = config.metricsListen ? await serve(tracker.metricsHandler, { ...config.metricsListen, onError }) : null;
    log.info(`Starting http server on ${server.url} (store ${store.description}, spool ${spoolPath}${metricsServer ? `, metrics on ${metricsServer.url}` : ""})`);
    const signal = await waitForSignal(["SIGINT", "SIGTERM"]);
    log.info(`${signal}: finishing in-flight requests, flushing the spool`);
    await Promise.all([server.close(), metricsServer?.close()]);
    await tracker.close({ deadlineMs: 10_000 });
    spool.close();
    await store.close();
    log.info("Stopped");
  },
});
