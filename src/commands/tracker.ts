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
import { keysFromArgs, loggerFromArgs } from "./_shared.ts";
import { trackerArgs } from "./_tracker-args.ts";

export default defineCommand({
  meta: { name: "tracker", description: "Web service that decodes client email opens and clicks: the pixel for opens, a 302 for clicks, one queued event per hit. Runs plain HTTP behind nginx (or native TLS)" },
  args: trackerArgs,
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
    // Only without --spool: defaultStoreUrl() creates the per-system directory.
    const defaultSpool = resolved.spoolPath ? "" : join(dirname(defaultStoreUrl(process.env).slice("sqlite:".length)), `tracker-${resolved.listen.port}.spool`);
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
    const listen = (what: string, p: Promise<Awaited<ReturnType<typeof serve>>>) => p.catch((err: Error) => {
      throw new CLIError(`Cannot listen on ${what}: ${err.message}`, "ERUNTIME", { cause: err });
    });
    const server = await listen(`port ${config.listen.port}`, serve(tracker.handler, { ...config.listen, tls, onError, reusePort: worker !== null }));
    const metricsServer = config.metricsListen ? await listen(`the metrics port ${config.metricsListen.port}`, serve(tracker.metricsHandler, { ...config.metricsListen, onError })) : null;
    log.info(`Starting http server on ${server.url} (store ${store.description}, spool ${spoolPath}${metricsServer ? `, metrics on ${metricsServer.url}` : ""})`);
    const signal = await waitForSignal(["SIGINT", "SIGTERM"]);
    // systemd signals the whole control group and a --workers supervisor forwards the signal too: a second
    // SIGTERM must not cut the drain short.
    process.on("SIGTERM", () => {});
    log.info(`${signal}: finishing in-flight requests, flushing the spool`);
    await Promise.all([server.close(), metricsServer?.close()]);
    await tracker.close({ deadlineMs: 10_000 });
    spool.close();
    await store.close();
    log.info("Stopped");
  },
});
