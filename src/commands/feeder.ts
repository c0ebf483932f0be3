/** @module `mtatrack feeder`: flags + env → config → store → the feeder part (_feeder-start.ts): feed (or replay the dead letters) → signal → close. */
import { defineCommand } from "citty";
import { repeatedFlag, resolveFeederConfig } from "../core/feeder-config.ts";
import { CLIError } from "../errors.ts";
import { waitForSignal } from "../runtime/signals.ts";
import { openStore, storeUrlFromArgs } from "../stores/open-store.ts";
import { feederArgs } from "./_feeder-args.ts";
import { openFeederPart } from "./_feeder-start.ts";
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
    const feeder = await openFeederPart(config, { store, log });
    if (feeder.metricsUrl) log.info(`Metrics on ${feeder.metricsUrl}/metrics`);
    try {
      if (config.replayDeadLetters) {
        const stop = new AbortController();
        void waitForSignal().then(() => stop.abort());
        const s = await feeder.replay(stop.signal);
        log.info(`Replayed ${s.letters} dead letters: ${s.delivered} events delivered, ${s.deadAgain} dead-lettered again, ${s.skipped} letters kept for other sinks`);
        process.exitCode = s.deadAgain > 0 || stop.signal.aborted ? 1 : 0;
        return;
      }
      feeder.feed();
      const signal = await waitForSignal(["SIGINT", "SIGTERM"]);
      log.info(`${signal}: sending what is gathered, waiting up to ${config.shutdownTimeoutMs} ms, then stopping`);
    } finally {
      await feeder.close();
      await store.close();
    }
  },
});
