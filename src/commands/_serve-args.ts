/**
 * @module The flags of `mtatrack serve`: the tracker's, the wrapper's and the feeder's, imported from
 * their `_<part>-args.ts`, and their mapping back to each part's own resolver. A name two parts use for different
 * things gets the part's prefix (`--tracker-hostport`, `--smtp-hostport`, …); the rest keep their names,
 * so a flag reads the same in `serve` as in its part.
 */
import { dirname, join } from "node:path";
import type { ArgsDef, ParsedArgs } from "citty";
import { repeatedFlag, resolveFeederConfig } from "../core/feeder-config.ts";
import { resolveTrackerConfig } from "../core/tracker-config.ts";
import { CLIError } from "../errors.ts";
import { defaultStoreUrl } from "../stores/open-store.ts";
import { resolveWrapperConfig } from "../wrapper/smtp-config.ts";
import { feederArgs } from "./_feeder-args.ts";
import { trackerArgs } from "./_tracker-args.ts";
import { wrapperArgs } from "./_wrapper-args.ts";

/** One part's flag under a new name: same type and hint, its own description, none of the part's aliases. */
function renamed<A extends { type: "string" }>(arg: A, description: string): Omit<A, "alias" | "description"> & { description: string } {
  const { alias: _alias, description: _description, ...rest } = arg as A & { alias?: unknown; description?: string };
  return { ...rest, description };
}

/** The parts' flags serve takes under their own names (exported for the test that finds clashes). */
export const partArgs = { tracker: trackerArgs, wrapper: wrapperArgs, feeder: feederArgs } as const;

const { "in-hostport": trackerListen, "tls-cert": trackerCert, "tls-key": trackerKey, "metrics-listen": trackerMetrics, workers: _workers, ...trackerOwn } = trackerArgs;
const { "in-hostport": smtpListen, "tls-cert": smtpCert, "tls-key": smtpKey, "metrics-listen": smtpMetrics, "reuse-port": _reusePort, ...wrapperOwn } = wrapperArgs;
const { "metrics-listen": feederMetrics, "replay-dead-letters": _replay, ...feederOwn } = feederArgs;

/**
 * Flags `serve` refuses, each with what to say instead: names every part means differently, and flags for
 * running several processes or one-off runs. citty would otherwise ignore an unknown flag without a word.
 */
export const refusedFlags: Readonly<Record<string, string>> = Object.freeze({
  "in-hostport": "--tracker-hostport (HTTP) or --smtp-hostport (SMTP)",
  "tls-cert": "--tracker-tls-cert (HTTPS) or --smtp-tls-cert (STARTTLS)",
  "tls-key": "--tracker-tls-key or --smtp-tls-key",
  certfile: "--smtp-tls-cert",
  privkeyfile: "--smtp-tls-key",
  "metrics-listen": "--tracker-metrics-listen, --smtp-metrics-listen or --feeder-metrics-listen",
  workers: "mtatrack tracker --workers (serve is one process)",
  "reuse-port": "mtatrack wrapper --reuse-port (serve is one process, its tracker and feeder included)",
  "replay-dead-letters": "mtatrack feeder --replay-dead-letters (a one-off run)",
});

export const serveArgs = {
  "tracker-hostport": renamed(trackerListen, "HTTP: the tracker listens on host:port (the tracker's --in-hostport; default :8888)"),
  "smtp-hostport": renamed(smtpListen, "SMTP: the wrapper listens on host:port (the wrapper's --in-hostport; default localhost:587)"),
  ...trackerOwn,
  ...wrapperOwn,
  ...feederOwn,
  // Same flags, with what differs in serve said in their descriptions.
  "out-hostport": { ...wrapperOwn["out-hostport"], description: "Upstream MTA host:port; without it the SMTP part is off and serve runs tracker + feeder only" },
  "tracking-url": { ...wrapperOwn["tracking-url"], description: "Tracking base URL put in links (default: this tracker's own address, e.g. http://localhost:8888; env MTATRACK_TRACKING_URL)" },
  "track-click": { ...wrapperOwn["track-click"], description: "Wrap <a href> in tracked links (default true in serve; --no-track-click to disable)" },
  "tls-hostport": { ...wrapperOwn["tls-hostport"], description: "SMTP: also listen with implicit TLS (SMTPS, e.g. :465); needs --smtp-tls-cert" },
  spool: { ...trackerOwn.spool, description: "Local spool file for events while the store is down (default: tracker-<port>.spool beside a sqlite: store's file; env MTATRACK_SPOOL)" },
  sink: { ...feederOwn.sink, description: "Comma-separated sinks: sparkpost, webhook, file (default: those configured; with none, NDJSON to stdout)" },
  "tracker-tls-cert": renamed(trackerCert, "PEM certificate chain: the tracker serves HTTPS natively (with --tracker-tls-key)"),
  "tracker-tls-key": renamed(trackerKey, "PEM private key for --tracker-tls-cert"),
  "smtp-tls-cert": renamed(smtpCert, "PEM certificate chain: the wrapper offers STARTTLS (with --smtp-tls-key; reloaded on SIGHUP)"),
  "smtp-tls-key": renamed(smtpKey, "PEM private key for --smtp-tls-cert"),
  "tracker-metrics-listen": renamed(trackerMetrics, "Tracker /metrics and /healthz on this host:port only (default: on the tracker's listener)"),
  "smtp-metrics-listen": renamed(smtpMetrics, "Wrapper Prometheus /metrics on host:port"),
  "feeder-metrics-listen": renamed(feederMetrics, "Feeder Prometheus /metrics on [host]:port"),
} as const satisfies ArgsDef;

type Env = Record<string, string | undefined>;

/**
 * Each part's config from its own resolver, with serve's names mapped back to the part's; `wrapper` is null
 * without --out-hostport, and its tracking URL is a placeholder unless `explicitTrackingUrl` is set.
 * @throws {CLIError} EARG for a refused flag or a value a part's resolver does not accept.
 */
export function resolveServeConfigs(args: ParsedArgs<typeof serveArgs>, rawArgs: readonly string[], env: Env) {
  for (const arg of rawArgs) {
    const name = /^--([^=]+)/.exec(arg)?.[1]?.replaceAll("_", "-");
    if (name && name in refusedFlags) throw new CLIError(`serve does not take --${name}: use ${refusedFlags[name]}`, "EARG");
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
export function spoolBesideStore(storeUrl: string, port: number, env: Env): string {
  const file = /^sqlite:(?:\/\/)?([^?]+)/i.exec(storeUrl.trim())?.[1];
  const dir = file && file !== ":memory:" ? dirname(decodeURIComponent(file)) : dirname(defaultStoreUrl(env).slice("sqlite:".length));
  return join(dir, `tracker-${port}.spool`);
}
