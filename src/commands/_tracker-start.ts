/**
 * @module The one place a resolved tracker config becomes a running tracker: read its files, open the spool,
 * build the codec and the tracker, listen. `mtatrack tracker` and `mtatrack serve` both start it here, so
 * their wiring cannot drift apart; each command keeps its own store, log lines and signal handling.
 */
import { createCidrSet } from "../core/cidr-set.ts";
import { createLinkCodec, type LinkKey } from "../core/link-codec.ts";
import { builtinMachineRanges, parseRangeText, type MachineRangeList } from "../core/machine-ranges.ts";
import type { TrackerConfig } from "../core/tracker-config.ts";
import { CLIError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { nativePrimitives } from "../runtime/codec-primitives.ts";
import { serve, type ServeHandle } from "../runtime/serve.ts";
import type { Store } from "../stores/types.ts";
import { openSpool } from "../tracker/spool.ts";
import { createTracker } from "../tracker/tracker.ts";
import { listening, readFlagFile } from "./_start-helpers.ts";

/** Proxies that only fetch images say nothing about clicks. */
const OPENS_ONLY = new Set(["apple-mpp", "google-proxy", "yahoo-proxy"]);

/** What the tracker reads from files its flags name (machine ranges, certificate and key). */
export interface TrackerFiles {
  readonly extraRanges: readonly MachineRangeList[];
  readonly tls: { cert: string; key: string } | null;
}

/**
 * Reads the files `config` names. Separate from {@link startTrackerPart} so a command can refuse a bad path
 * before it opens the store.
 * @throws {CLIError} EARG naming the file that cannot be read.
 */
export function loadTrackerFiles(config: Readonly<TrackerConfig>): TrackerFiles {
  const extraRanges: MachineRangeList[] = config.machineRanges.map(({ reason, path }) => ({
    reason, applies: OPENS_ONLY.has(reason) ? "opens" : "all", source: path, cidrs: parseRangeText(readFlagFile(path, "machine ranges")) }));
  const tls = config.tls ? { cert: readFlagFile(config.tls.certPath, "TLS certificate"), key: readFlagFile(config.tls.keyPath, "TLS key") } : null;
  return { extraRanges, tls };
}

/** What the tracker runs on besides its config. */
export interface TrackerPartDeps {
  store: Store;
  files: TrackerFiles;
  keys: readonly LinkKey[];
  acceptV1: boolean;
  spoolPath: string;
  log: Logger;
  /** Share the port with sibling worker processes (SO_REUSEPORT). @default false */
  reusePort?: boolean;
}

/** A listening tracker; `close()` drains it and closes the spool, not the store (the caller's). */
export interface TrackerPart {
  /** The main listener's fetchable URL, e.g. `http://127.0.0.1:8888/`. */
  readonly url: string;
  /** Where links should point: the bound address, a wildcard host shown as localhost, no trailing slash. */
  readonly baseUrl: string;
  /** The separate metrics listener's URL, or null when metrics are served on the main one. */
  readonly metricsUrl: string | null;
  close(): Promise<void>;
}

/**
 * Opens the spool and starts the tracker on `config.listen` (and `config.metricsListen`).
 * @throws {CLIError} ERUNTIME when the spool cannot be opened or a port cannot be bound (what was started is closed).
 */
export async function startTrackerPart(config: Readonly<TrackerConfig>, deps: TrackerPartDeps): Promise<TrackerPart> {
  const { files, log } = deps;
  const spool = (() => {
    try {
      return openSpool({ path: deps.spoolPath, maxBytes: config.spoolMaxBytes });
    } catch (err) {
      throw new CLIError((err as Error).message, "ERUNTIME", { cause: err });
    }
  })();
  const codec = createLinkCodec({ primitives: nativePrimitives, keys: [...deps.keys], acceptV1: deps.acceptV1 });
  const tracker = createTracker({ store: deps.store, codec, spool, log, trustedProxies: createCidrSet(config.trustProxy), ipTruncate: config.ipTruncate,
    serverHeader: config.serverHeader, machineRanges: [...builtinMachineRanges, ...files.extraRanges], fastClickMs: config.fastClickMs,
    storeTimeoutMs: config.storeTimeoutMs, serveMetricsOnMain: !config.metricsListen });
  const onError = (err: unknown) => log.error(`Request failed: ${(err as Error)?.stack ?? err}`);
  const servers: ServeHandle[] = [];
  const close = async () => {
    await Promise.all(servers.map((s) => s.close()));
    await tracker.close({ deadlineMs: 10_000 });
    spool.close();
  };
  try {
    servers.push(await listening(`port ${config.listen.port}`, serve(tracker.handler, { ...config.listen, tls: files.tls, onError, reusePort: deps.reusePort ?? false,
      httpServer: config.httpServer, wireHandler: tracker.wireHandler })));
    if (config.metricsListen) servers.push(await listening(`the metrics port ${config.metricsListen.port}`, serve(tracker.metricsHandler, { ...config.metricsListen, onError })));
  } catch (err) {
    await close();
    throw err;
  }
  const { hostname } = config.listen;
  const host = hostname === "" ? "localhost" : hostname.includes(":") ? `[${hostname}]` : hostname;
  return { url: servers[0]!.url, baseUrl: `${files.tls ? "https" : "http"}://${host}:${servers[0]!.port}`, metricsUrl: servers[1]?.url ?? null, close };
}
