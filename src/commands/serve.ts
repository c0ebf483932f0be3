/**
 * @module `mtatrack serve`: tracker + wrapper + feeder in one process on one store, the whole pipeline on
 * one host with one command. Thin: flags + env → the parts' own resolvers → store → feeder, tracker,
 * wrapper → signal → close in reverse (stop taking mail, then clicks, then deliver what is queued).
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import { defineCommand, type ParsedArgs } from "citty";
import { repeatedFlag, resolveFeederConfig } from "../core/feeder-config.ts";
import { resolveTrackerConfig } from "../core/tracker-config.ts";
import { CLIError } from "../errors.ts";
import { waitForSignal } from "../runtime/signals.ts";
import { defaultStoreUrl, openStore, storeUrlFromArgs } from "../stores/open-store.ts";
import { resolveWrapperConfig } from "../wrapper/smtp-config.ts";
import { startFeederPart, startTrackerPart, startWrapperPart, type Part } from "./_serve-parts.ts";
import { ambiguousFlags, serveArgs } from "./_serve-args.ts";
import { keysFromArgs, loggerFromArgs } from "./_shared.ts";

type Env = Record<string, string | undefined>;

export default defineCommand({
  meta: { name: "serve", description: "Tracker + wrapper + feeder in one process on one store (SQLite by default): the whole pipeline on one host with one command. The SMTP part runs when --out-hostport names the MTA; with no sink configured, events go to stdout as NDJSON" },
  args: serveArgs,
  async run({ args, rawArgs }) {
    const env = process.env;
    const { tracker, wrapper, feeder, explicitTrackingUrl } = resolveConfigs(args, rawArgs, env);
    const keys = keysFromArgs(args, env);
    if (wrapper && wrapper.trackingUrl !== "" && wrapper.linkFormat === "v2" && keys.length === 0) {
      throw new CLIError("Cannot sign v2 links without a key: give --link-key kid:secret (or MTATRACK_LINK_KEYS), or --link-format v1", "EARG");
    }
    const log = loggerFromArgs(args, env, "serve");
    const storeUrl = storeUrlFromArgs(args, env);
    const store = await openStore(storeUrl, { redis: { enableAutoPipelining: true } });
    const parts: [string, Part][] = [];
    try {
      if (feeder.defaulted) log.info("No sink configured (--sink, --webhook-url, --file or SPARKPOST_API_KEY_INGEST): events go to stdout as NDJSON");
      parts.push(["feeder", await startFeederPart({ config: feeder.config, store, log: log.withTag("feeder"),
        consumer: feeder.config.consumer ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}` })]);
      if (keys.length === 0 && !args["accept-v1"]) log.warn("No link keys (--link-key or MTATRACK_LINK_KEYS) and v1 not accepted: every token will be refused");
      const t = await startTrackerPart({ config: tracker, spoolPath: tracker.spoolPath ?? spoolBesideStore(storeUrl, tracker.listen.port, env),
        keys, acceptV1: Boolean(args["accept-v1"]), store, log: log.withTag("tracker") });
      parts.push(["tracker", t]);
      const w = wrapper ? await startWrapperPart({ config: { ...wrapper, trackingUrl: explicitTrackingUrl ?? t.url }, keys, log: log.withTag("wrapper") }) : null;
      if (w) parts.push(["wrapper", w]);
      else log.info("SMTP part off: no --out-hostport (the MTA to relay to); running tracker + feeder only");
      log.info(`Ready: tracker ${t.url}${w ? `, SMTP port ${w.port}` : ""}, store ${store.description}`);
      let signal: NodeJS.Signals;
      while ((signal = await waitForSignal(["SIGINT", "SIGTERM", "SIGHUP"])) === "SIGHUP") w?.reloadTls();
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

/** Each part's config from its own resolver, with serve's names mapped back to the part's. */
function resolveConfigs(args: ParsedArgs<typeof serveArgs>, rawArgs: readonly string[], env: Env) {
  for (const arg of rawArgs) {
    const name = /^--([^=]+)/.exec(arg)?.[1]?.replaceAll("_", "-");
    if (name && name in ambiguousFlags) throw new CLIError(`serve does not take --${name}: use ${ambiguousFlags[name]}`, "EARG");
  }
  try {
    const tracker = resolveTrackerConfig({ ...args, "in-hostport": args["tracker-hostport"], "tls-cert": args["tracker-tls-cert"],
      "tls-key": args["tracker-tls-key"], "metrics-listen": args["tracker-metrics-listen"], workers: "1" }, env);
    const explicitTrackingUrl = args["tracking-url"] ?? env.MTATRACK_TRACKING_URL;
    // The tracking URL's default is the tracker's bound address, known only once it listens; serve.ts puts it in then.
    const wrapper = args["out-hostport"] ? resolveWrapperConfig({ ...args, "in-hostport": args["smtp-hostport"], "tls-cert": args["smtp-tls-cert"],
      "tls-key": args["smtp-tls-key"], "metrics-listen": args["smtp-metrics-listen"], "tracking-url": explicitTrackingUrl ?? "http://localhost",
      "track-click": args["track-click"] ?? true }, env) : null;
    const defaulted = args.sink === undefined && !args["webhook-url"] && !args.file && !env.SPARKPOST_API_KEY_INGEST?.trim();
    const feeder = resolveFeederConfig({ ...args, "webhook-header": repeatedFlag(rawArgs, "webhook-header"), "metrics-listen": args["feeder-metrics-listen"],
      "replay-dead-letters": false, ...(defaulted ? { file: "-" } : {}) }, env);
    return { tracker, wrapper, explicitTrackingUrl, feeder: { config: feeder, defaulted } };
  } catch (err) {
    throw err instanceof RangeError || err instanceof TypeError ? new CLIError(err.message, "EARG", { cause: err }) : err;
  }
}

/** Without --spool: beside a `sqlite:` store's file (else beside the per-system default), named by the port. */
function spoolBesideStore(storeUrl: string, port: number, env: Env): string {
  const file = /^sqlite:(?:\/\/)?([^?]+)/i.exec(storeUrl.trim())?.[1];
  const dir = file && file !== ":memory:" ? dirname(decodeURIComponent(file)) : dirname(defaultStoreUrl(env).slice("sqlite:".length));
  return join(dir, `tracker-${port}.spool`);
}
