/**
 * @module `mtatrack serve`: tracker + wrapper + feeder in one process on one store, the whole pipeline on
 * one host with one command. Thin: flags + env → the parts' own resolvers → store → feeder, tracker,
 * wrapper → signal → close in reverse (stop taking mail, then clicks, then deliver what is queued).
 */
import { defineCommand } from "citty";
import { waitForSignal } from "../runtime/signals.ts";
import { openStore, storeUrlFromArgs } from "../stores/open-store.ts";
import { serveFeeder, serveTracker, serveWrapper, type Part } from "./_serve-parts.ts";
import { resolveServeConfigs, serveArgs, spoolBesideStore } from "./_serve-args.ts";
import { keysFromArgs, loggerFromArgs } from "./_shared.ts";
import { requireSigningKey } from "./_wrapper-start.ts";

export default defineCommand({
  meta: { name: "serve", description: "Tracker + wrapper + feeder in one process on one store (SQLite by default): the whole pipeline on one host with one command. The SMTP part runs when --out-hostport names the MTA; with no sink configured, events go to stdout as NDJSON" },
  args: serveArgs,
  async run({ args, rawArgs }) {
    const env = process.env;
    const { tracker, wrapper, feeder, explicitTrackingUrl } = resolveServeConfigs(args, rawArgs, env);
    const keys = keysFromArgs(args, env);
    if (wrapper) requireSigningKey(wrapper, keys);
    const log = loggerFromArgs(args, env, "serve");
    const storeUrl = storeUrlFromArgs(args, env);
    const store = await openStore(storeUrl, { redis: { enableAutoPipelining: true } });
    const parts: [string, Part][] = [];
    try {
      if (feeder.defaulted) log.info("No sink configured (--sink, --webhook-url, --file or SPARKPOST_API_KEY_INGEST): events go to stdout as NDJSON");
      parts.push(["feeder", await serveFeeder(feeder.config, { store, log: log.withTag("feeder") })]);
      if (keys.length === 0 && !args["accept-v1"]) log.warn("No link keys (--link-key or MTATRACK_LINK_KEYS) and v1 not accepted: every token will be refused");
      const t = await serveTracker(tracker, { spoolPath: tracker.spoolPath ?? spoolBesideStore(storeUrl, tracker.listen.port, env),
        keys, acceptV1: Boolean(args["accept-v1"]), store, log: log.withTag("tracker") });
      parts.push(["tracker", t]);
      const w = wrapper ? await serveWrapper({ ...wrapper, trackingUrl: explicitTrackingUrl ?? t.baseUrl }, { keys, log: log.withTag("wrapper") }) : null;
      if (w) parts.push(["wrapper", w]);
      else log.info("SMTP part off: no --out-hostport (the MTA to relay to); running tracker + feeder only");
      log.info(`Ready: tracker ${t.baseUrl}${w ? `, SMTP port ${w.port}` : ""}, store ${store.description}`);
      // SIGHUP reloads the SMTP certificate; without one it keeps its default (the terminal is gone: end).
      const signals: NodeJS.Signals[] = wrapper?.tls ? ["SIGINT", "SIGTERM", "SIGHUP"] : ["SIGINT", "SIGTERM"];
      let signal: NodeJS.Signals;
      while ((signal = await waitForSignal(signals)) === "SIGHUP") w?.reloadTls();
      // systemd signals the whole control group: a second SIGTERM must not cut the drain short.
      process.on("SIGTERM", () => {});
      log.info(`${signal}: stopping ${parts.map(([name]) => name).reverse().join(", ")}`);
    } finally {
      for (const [name, part] of parts.reverse()) {
        await part.close().catch((err: Error) => log.error(`Closing the ${name}: ${err.message}`));
      }
      await store.close();
    }
    log.info("Stopped");
  },
});
