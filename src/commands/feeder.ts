/** @module `mtatrack feeder`: flags + env → config → store, sinks → feeder (or a dead-letter replay) → signal → close. */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { defineCommand } from "citty";
import { repeatedFlag, resolveFeederConfig } from "../core/feeder-config.ts";
import { CLIError } from "../errors.ts";
import { startFeeder } from "../feeder/feeder.ts";
import { FeederMetrics } from "../feeder/metrics.ts";
import { replayDeadLetters } from "../feeder/replay.ts";
import { createSinks } from "../feeder/sinks.ts";
import { listenMetrics } from "../runtime/metrics-listener.ts";
import { waitForSignal } from "../runtime/signals.ts";
import { openStore, storeUrlFromArgs } from "../stores/open-store.ts";
import { feederArgs } from "./_feeder-args.ts";
import { logArgs, loggerFromArgs, storeArgs } from "./_shared.ts";

export default defineCommand({
  meta: {
    name: "feeder",
    description: "Takes the opens and clicks from the queue and feeds them to SparkPost Signals Ingest, a webhook or NDJSON files. " +
      "The SparkPost sink requires SPARKPOST_API_KEY_INGEST and optionally SPARKPOST_HOST_INGEST",
  },
  args: { ...feederArgs, ...storeArgs, ...logArgs },
  async run({ args, rawArgs }) {
    let config;
    try {
      config = resolveFeederConfig({ ...args, "webhook-header": repeatedFlag(rawArgs, "webhook-header") }, process.env);
    } catch (error) {
      throw error instanceof RangeError ? new CLIError(error.message, "EARG", { cause: error }) : error;
    }
    const log = loggerFromArgs(args, process.env, "feeder");
    if (args.logfile) process.stdout.write(`Starting feeder service, logging to ${args.logfile}\n`);
    const store = await openStore(storeUrlFromArgs(args, process.env));
    log.info(`Starting feeder service: ${config.sinks.map((s) => s.name).join(", ")} from ${store.description}`);
    const metrics = new FeederMetrics();
    const listener = config.metricsListen ? await listenMetrics(() => metrics.render(), config.metricsListen) : null;
    if (listener) log.info(`Metrics on ${listener.url}/metrics`);
    const deps = {
      store, sinks: createSinks(config.sinks, { leaseMs: config.leaseMs }), metrics, log, leaseMs: config.leaseMs,
      consumer: config.consumer ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`,
    };
    try {
      if (config.replayDeadLetters) {
        const stop = new AbortController();
        void waitForSignal().then(() => stop.abort());
        const s = await replayDeadLetters({ ...deps, signal: stop.signal });
        log.info(`Replayed ${s.letters} dead letters: ${s.delivered} events delivered, ${s.deadAgain} dead-lettered again, ${s.skipped} letters kept for other sinks`);
        process.exitCode = s.deadAgain > 0 || stop.signal.aborted ? 1 : 0;
        return;
      }
      const feeder = startFeeder({ ...deps, concurrency: config.concurrency, shutdownTimeoutMs: config.shutdownTimeoutMs });
      const signal = await waitForSignal(["SIGINT", "SIGTERM"]);
      log.info(`${signal}: sending what is gathered, waiting up to ${config.shutdownTimeoutMs} ms, then stopping`);
      await feeder.close();
    } finally {
      await listener?.close();
      await store.close();
    }
  },
});
