/**
 * @module The tracker's configuration, resolved once from flags and env into a frozen value. Pure: paths
 * are returned, the command reads the files.
 */
import { createCidrSet } from "./cidr-set.ts";
import { parseTruncation, type TruncateOptions } from "./client-address.ts";
import type { MachineReason } from "./event.ts";
import { parseListenAddress, type ListenAddress } from "./listen-address.ts";

type Env = Record<string, string | undefined>;

/** The tracker's own flags, as citty hands them over (strings; the original's underscore names included). */
export interface TrackerArgs {
  "in-hostport"?: string;
  "in_hostport"?: string;
  "trust-proxy"?: string;
  "ip-truncate"?: string;
  "server-header"?: string;
  "metrics-listen"?: string;
  spool?: string;
  "spool-max"?: string;
  "store-timeout"?: string;
  "fast-click"?: string;
  "machine-ranges"?: string;
  "tls-cert"?: string;
  "tls-key"?: string;
  workers?: string;
  "http-server"?: string;
}

export interface TrackerConfig {
  listen: ListenAddress;
  /** The CIDR specs (validated). */
  trustProxy: readonly string[];
  ipTruncate: TruncateOptions | null;
  serverHeader: string;
  metricsListen: ListenAddress | null;
  /** null: the command picks a path next to the default store. */
  spoolPath: string | null;
  spoolMaxBytes: number;
  storeTimeoutMs: number;
  fastClickMs: number;
  /** Extra address lists: reason → file. */
  machineRanges: readonly { reason: MachineReason; path: string }[];
  tls: { certPath: string; keyPath: string } | null;
  /** Worker processes sharing the port (1: this process serves). */
  workers: number;
  httpServer: HttpServerKind;
}

/** "mtatrack": the project's own HTTP/1.1 server (Bun only; Deno uses its own); "runtime": the runtime's own (Bun's serve). */
export type HttpServerKind = "mtatrack" | "runtime";

const reasons: readonly MachineReason[] = ["apple-mpp", "google-proxy", "yahoo-proxy", "microsoft-safelinks", "security-scanner", "bot-user-agent"];

/**
 * Resolves the tracker's configuration: flags, then env (`MTATRACK_TRUST_PROXY`, `MTATRACK_SPOOL`), then
 * defaults.
 *
 * @throws {RangeError} with the flag and the reason for any value that does not parse.
 * @example
 * resolveTrackerConfig({ "in_hostport": ":8888" }, {}).listen; // { hostname: "", port: 8888 }
 */
export function resolveTrackerConfig(args: TrackerArgs, env: Env): Readonly<TrackerConfig> {
  const listen = parseListenAddress(args["in-hostport"] ?? args["in_hostport"] ?? ":8888");
  const trustProxy = list(args["trust-proxy"] ?? env.MTATRACK_TRUST_PROXY ?? "loopback");
  createCidrSet(trustProxy); // validates, throws RangeError naming the bad entry
  const metricsListen = args["metrics-listen"] ? parseListenAddress(args["metrics-listen"]) : null;
  const certPath = args["tls-cert"] || null;
  const keyPath = args["tls-key"] || null;
  if (Boolean(certPath) !== Boolean(keyPath)) throw new RangeError("Cannot enable TLS: give both --tls-cert and --tls-key");
  const machineRanges = list(args["machine-ranges"] ?? "").map((spec) => {
    const eq = spec.indexOf("=");
    const reason = spec.slice(0, eq) as MachineReason;
    if (eq < 1 || !reasons.includes(reason) || eq === spec.length - 1) {
      throw new RangeError(`Cannot use --machine-ranges "${spec}": expected REASON=FILE with REASON one of ${reasons.join(", ")}`);
    }
    return { reason, path: spec.slice(eq + 1) };
  });
  return Object.freeze({
    listen,
    trustProxy,
    ipTruncate: parseTruncation(args["ip-truncate"] ?? "none"),
    serverHeader: headerValue(args["server-header"] ?? "msys-http"),
    metricsListen,
    spoolPath: args.spool || env.MTATRACK_SPOOL || null,
    spoolMaxBytes: parseBytes(args["spool-max"] ?? "512M", "spool-max"),
    storeTimeoutMs: parseMs(args["store-timeout"] ?? "1000ms", "store-timeout", { min: 10 }),
    fastClickMs: parseMs(args["fast-click"] ?? "2s", "fast-click", { min: 0 }),
    machineRanges,
    tls: certPath && keyPath ? { certPath, keyPath } : null,
    workers: parseWorkers(args.workers ?? "1"),
    httpServer: parseHttpServer(args["http-server"] ?? "mtatrack"),
  });
}

function parseHttpServer(value: string): HttpServerKind {
  if (value === "mtatrack" || value === "runtime") return value;
  throw new RangeError(`Cannot use --http-server "${value}": expected mtatrack (the tracker's own, the default) or runtime (the runtime's own)`);
}

function parseWorkers(value: string): number {
  const n = value.trim() === "auto" ? 0 : /^\d{1,3}$/.test(value.trim()) ? Number(value) : NaN;
  if (!(n >= 0 && n <= 256)) throw new RangeError(`Cannot parse --workers "${value}": expected a number of processes (1-256) or auto`);
  return n; // 0 = auto: the command picks one per CPU
}

/**
 * The configuration one worker process uses: its own spool (a spool has one owner) and, with a metrics
 * listener, its own metrics port (base port + worker number - 1), so each worker is one scrape target.
 */
export function forWorker(config: Readonly<TrackerConfig>, index: number, defaultSpool: string): Readonly<TrackerConfig> {
  return Object.freeze({
    ...config,
    spoolPath: `${config.spoolPath ?? defaultSpool}.w${index}`,
    metricsListen: config.metricsListen ? { ...config.metricsListen, port: config.metricsListen.port + index - 1 } : null,
  });
}

function list(value: string): string[] {
  return value.split(",").map((s) => s.trim()).filter(Boolean);
}

function headerValue(value: string): string {
  if (!/^[\x20-\x7e]*$/.test(value)) throw new RangeError(`Cannot use --server-header "${value}": only printable ASCII fits an HTTP header`);
  return value;
}

/** `512M`, `1G`, `65536`, `64K` (powers of 1024). */
export function parseBytes(value: string, flag: string): number {
  const m = /^(\d+)\s*([KMG]i?B?|B)?$/i.exec(value.trim());
  if (!m) throw new RangeError(`Cannot parse --${flag} "${value}": expected bytes such as 65536, 64K, 512M or 1G`);
  const unit = (m[2] ?? "B")[0]!.toUpperCase();
  const mult = unit === "K" ? 1024 : unit === "M" ? 1024 ** 2 : unit === "G" ? 1024 ** 3 : 1;
  const n = Number(m[1]) * mult;
  if (n < 1024) throw new RangeError(`Cannot use --${flag} "${value}": at least 1K`);
  return n;
}

/** `250ms`, `2s`, `1.5s`, or bare milliseconds. */
export function parseMs(value: string, flag: string, opts: { min: number }): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s)?$/i.exec(value.trim());
  const ms = m ? Math.round(Number(m[1]) * (m[2]?.toLowerCase() === "s" ? 1000 : 1)) : NaN;
  if (!(ms >= opts.min)) throw new RangeError(`Cannot parse --${flag} "${value}": expected a duration such as 250ms or 2s (at least ${opts.min} ms)`);
  return ms;
}
