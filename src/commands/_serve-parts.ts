/**
 * @module The three parts of `mtatrack serve`, each started by the same function its own command uses
 * (_tracker-start.ts, _wrapper-start.ts, _feeder-start.ts), with serve's log lines; no wiring of its own,
 * so serve cannot drift from the parts. Kept apart so serve.ts stays thin.
 */
import type { FeederConfig } from "../core/feeder-config.ts";
import type { LinkKey } from "../core/link-codec.ts";
import type { TrackerConfig } from "../core/tracker-config.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../stores/types.ts";
import type { WrapperConfig } from "../wrapper/smtp-config.ts";
import { openFeederPart } from "./_feeder-start.ts";
import { loadTrackerFiles, startTrackerPart, type TrackerPart } from "./_tracker-start.ts";
import { startWrapperPart, type WrapperPart } from "./_wrapper-start.ts";

/** A started part. */
export interface Part {
  close(): Promise<void>;
}

/** The feeder on the shared store, one runner per configured sink. */
export async function serveFeeder(config: Readonly<FeederConfig>, deps: { store: Store; log: Logger }): Promise<Part> {
  const feeder = await openFeederPart(config, deps);
  feeder.feed();
  deps.log.info(`Feeding ${config.sinks.map((s) => (s.kind === "file" && s.path === "-" ? "stdout (NDJSON)" : s.name)).join(", ")}${feeder.metricsUrl ? `; metrics on ${feeder.metricsUrl}/metrics` : ""}`);
  return feeder;
}

/** The tracker on `config.listen`; its `baseUrl` is the wrapper's default tracking URL. */
export async function serveTracker(config: Readonly<TrackerConfig>, deps: { store: Store; keys: readonly LinkKey[]; acceptV1: boolean; spoolPath: string; log: Logger }): Promise<TrackerPart> {
  const tracker = await startTrackerPart(config, { ...deps, files: loadTrackerFiles(config) });
  deps.log.info(`Listening on ${tracker.baseUrl} (spool ${deps.spoolPath}${tracker.metricsUrl ? `, metrics on ${tracker.metricsUrl}` : ""})`);
  return tracker;
}

/** The SMTP proxy with the message rewriter (none when `trackingUrl` is ""). */
export async function serveWrapper(config: Readonly<WrapperConfig>, deps: { keys: readonly LinkKey[]; log: Logger }): Promise<WrapperPart> {
  const w = await startWrapperPart(config, deps);
  const u = config.upstream;
  deps.log.info(`Listening on ${config.listen.hostname || "*"}:${w.port}${w.tlsPort ? ` and ${w.tlsPort} (implicit TLS)` : ""} as ${w.name}; upstream ${u.host}:${u.port}` +
    `${config.tls ? "" : "; no --smtp-tls-cert, so no STARTTLS for clients"}${w.metricsUrl ? `; metrics on ${w.metricsUrl}/metrics` : ""}`);
  deps.log.info(`Tracking URL ${config.trackingUrl || '"" (plain relay)'}; track_open ${config.tracking.trackOpen}, track_initial_open ${config.tracking.trackInitialOpen}, track_click ${config.tracking.trackClick}`);
  return w;
}
