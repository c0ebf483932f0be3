/** @module `mtatrack acct-etl`: PowerMTA's accounting pipe (or rotated files) into the store. Thin: flags → config → pipeline → signal → close. */
import { defineCommand } from "citty";
import { formatProgress, formatSummary, resolveAcctEtlConfig } from "../core/acct-etl-config.ts";
import { CLIError } from "../errors.ts";
import { waitForSignal } from "../runtime/signals.ts";
// Static, not import() in run(): PowerMTA may start this often, and the binary loads a command's static graph
// in one go, ~3 ms cheaper than three more dynamic imports after it (BENCHMARKS.md, acct-etl session 5).
import { openStore, storeUrlFromArgs } from "../stores/open-store.ts";
import { createAcctPipeline } from "../etl/pipeline.ts";
import { checkFiles, fileStream, stdinStream } from "../runtime/input.ts";
import { startStatusLine } from "../runtime/stderr.ts";
import { logArgs, loggerFromArgs, storeArgs } from "./_shared.ts";

export default defineCommand({
  meta: { name: "acct-etl", description: "Extracts, transforms and loads accounting data fed by the PowerMTA pipe into the store" },
  args: {
    infile: { type: "string", description: "Read this accounting CSV file instead of stdin; repeat for several (default: stdin)", valueHint: "path" },
    ttl: { type: "string", description: "Lifetime of each msgID_ entry: seconds, or with s/m/h/d (default 10d)", valueHint: "duration" },
    "store-retry": { type: "string", description: "Exit non-zero when the store stays unreachable this long (default 30s)", valueHint: "duration" },
    field: { type: "string", description: "Also record this accounting field (repeatable or comma-separated), e.g. header_x-job", valueHint: "name" },
    ...storeArgs,
    ...logArgs,
  },
  async run({ args, rawArgs }) {
    const config = resolveAcctEtlConfig(rawArgs, args);
    const log = loggerFromArgs(args, process.env, "acct-etl");
    checkFiles(config.inputs); // before the store: a typo in a path should not wait for Redis
    // lazy: a Redis that is down at start gets the same --store-retry bound as one that goes away later.
    const store = await openStore(storeUrlFromArgs(args, process.env), { lazy: true });
    log.info(`Reading ${config.inputs.length ? config.inputs.join(", ") : "stdin"} into ${store.description} (ttl ${config.ttlSeconds} s)`);
    const etl = createAcctPipeline({ kv: store.kv, log }, { ttlSeconds: config.ttlSeconds, fields: config.fields, storeRetryMs: config.storeRetryMs });
    let signal: string | null = null;
    const stopped = waitForSignal(["SIGTERM", "SIGINT"]).then((s) => void (signal = s));
    const work = (async () => {
      if (config.inputs.length === 0) return await etl.consume(stdinStream());
      for (const path of config.inputs) {
        const { stream, size } = fileStream(path);
        const [start, from] = [Date.now(), etl.stats()];
        // Drawn only on a terminal, which is asked after the first 250 ms: a short run does not pay for the check.
        const progress = startStatusLine(() => {
          const s = etl.stats();
          return formatProgress({ name: path, bytes: s.bytes - from.bytes, size, rows: s.rows - from.rows, elapsedMs: Date.now() - start });
        });
        try {
          await etl.consume(stream, { name: path });
        } finally {
          progress.stop();
        }
      }
    })();
    let failure: unknown = null;
    await Promise.race([work.catch((e) => void (failure = e)), stopped]);
    if (signal) log.info(`${signal}: storing what was read, then exiting`);
    const summary = await etl.close({ graceMs: signal ? 250 : 0 });
    await work.catch((e) => void (failure ??= e));
    await store.close();
    log.info(`Summary: ${formatSummary(summary)}`);
    if (failure || summary.error) {
      if (failure instanceof CLIError) throw failure;
      const reason = failure instanceof Error ? failure.message : summary.error ?? String(failure);
      throw new CLIError(reason, failure ? "ERUNTIME" : "ESTORE", { cause: failure });
    }
  },
});
