/** @module `mtatrack tracker`: the open/click HTTP service. Thin: flags → config → files, store → the tracker part (_tracker-start.ts) → signal → drain → close. */
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { defineCommand } from "citty";
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
    // Flags and keys are checked first, so a mistake is reported once; nothing is open yet. Workers inherit it.
    const { restartWithServerAllocator } = await import("../runtime/allocator.ts");
    restartWithServerAllocator((reason) => log.warn(`Running with mimalloc's default page purging: cannot restart with MIMALLOC_PURGE_DELAY set (${reason})`));
    const workers = resolved.workers || availableParallelism();
    if (workers > 1 && !worker) {
      process.exitCode = await superviseWorkers({ count: workers, log });
      return;
    }
    const [{ openStore, storeUrlFromArgs, defaultStoreUrl }, { loadTrackerFiles, startTrackerPart }] = await Promise.all([
      import("../stores/open-store.ts"), import("./_tracker-start.ts")]);
    const files = loadTrackerFiles(resolved);
    if (keys.length === 0 && !args["accept-v1"]) log.warn("No link keys (--link-key or MTATRACK_LINK_KEYS) and v1 not accepted: every token will be refused");
    // Only without --spool: defaultStoreUrl() creates the per-system directory.
    const defaultSpool = resolved.spoolPath ? "" : join(dirname(defaultStoreUrl(process.env).slice("sqlite:".length)), `tracker-${resolved.listen.port}.spool`);
    const config = worker ? forWorker(resolved, worker, defaultSpool) : resolved;
    const spoolPath = config.spoolPath ?? defaultSpool;
    const store = await openStore(storeUrlFromArgs(args, process.env), { redis: { enableAutoPipelining: true } });
    const tracker = await startTrackerPart(config, { store, files, keys, acceptV1: Boolean(args["accept-v1"]), spoolPath, log, reusePort: worker !== null });
    log.info(`Starting http server on ${tracker.url} (store ${store.description}, spool ${spoolPath}${tracker.metricsUrl ? `, metrics on ${tracker.metricsUrl}` : ""})`);
    const signal = await waitForSignal(["SIGINT", "SIGTERM"]);
    // systemd signals the whole control group and a --workers supervisor forwards the signal too: a second
    // SIGTERM must not cut the drain short.
    process.on("SIGTERM", () => {});
    log.info(`${signal}: finishing in-flight requests, flushing the spool`);
    await tracker.close();
    await store.close();
    log.info("Stopped");
  },
});
