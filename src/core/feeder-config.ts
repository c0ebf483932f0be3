/** @module `mtatrack feeder` flags + environment → one frozen, validated configuration. */
import { sparkPostMaxBytes, type BatchLimits } from "./batcher.ts";
import { parseEventSelection, type EventSelection } from "./event-selection.ts";
import { ingestBaseUrl, ingestEventsUrl } from "./ingest-host.ts";

export type SinkKind = "sparkpost" | "webhook" | "file";

export type FileRotation = { kind: "none" } | { kind: "daily" } | { kind: "size"; bytes: number };

export type SinkConfig =
  | { kind: "sparkpost"; name: string; url: string; apiKey: string; limits: BatchLimits; events: EventSelection }
  | { kind: "webhook"; name: string; url: string; secret: string | null; previousSecret: string | null; headers: readonly (readonly [string, string])[]; limits: BatchLimits; events: EventSelection }
  | { kind: "file"; name: string; path: string; rotate: FileRotation; limits: BatchLimits; events: EventSelection };

export interface FeederConfig {
  sinks: readonly SinkConfig[];
  /** Batches in flight per sink. */
  concurrency: number;
  /** Lease on claimed events: after a crash, another feeder takes them over this long after the claim. */
  leaseMs: number;
  /** How long SIGTERM waits for answers to the batches in flight. */
  shutdownTimeoutMs: number;
  metricsListen: { host: string; port: number } | null;
  replayDeadLetters: boolean;
  /** Consumer name in the queue groups; null lets the command make a unique one. */
  consumer: string | null;
}

/** The flags as citty hands them over (strings), plus the repeatable ones collected from argv. */
export interface FeederArgs {
  sink?: string;
  "webhook-url"?: string;
  "webhook-secret"?: string;
  "webhook-secret-previous"?: string;
  "webhook-header"?: readonly string[];
  file?: string;
  "file-rotate"?: string;
  "batch-size"?: string;
  "batch-age"?: string;
  "batch-bytes"?: string;
  concurrency?: string;
  lease?: string;
  "shutdown-timeout"?: string;
  "metrics-listen"?: string;
  "replay-dead-letters"?: boolean;
  consumer?: string;
  "sparkpost-events"?: string;
  "webhook-events"?: string;
  "file-events"?: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

const defaults: Record<SinkKind, BatchLimits> = {
  sparkpost: { maxBytes: sparkPostMaxBytes, maxCount: 100_000, maxAgeMs: 30_000 },
  webhook: { maxBytes: sparkPostMaxBytes, maxCount: 1_000, maxAgeMs: 30_000 },
  file: { maxBytes: 16 * 1024 * 1024, maxCount: 10_000, maxAgeMs: 1_000 },
};

/**
 * Resolves the feeder's configuration. Precedence: flags, then environment (`SPARKPOST_API_KEY_INGEST`,
 * `SPARKPOST_HOST_INGEST`, `MTATRACK_WEBHOOK_SECRET`), then defaults. Without `--sink`, the sinks are the
 * ones whose settings are present (`--webhook-url`, `--file`, the ingest key), and SparkPost when none is,
 * as the original.
 * @throws {RangeError} on a missing or out-of-range value, with the flag's name
 * @example resolveFeederConfig({}, { SPARKPOST_API_KEY_INGEST: "k" }).sinks[0].kind // "sparkpost"
 */
export function resolveFeederConfig(args: FeederArgs, env: Env): FeederConfig {
  const kinds = chosenSinks(args, env);
  const override = {
    maxCount: args["batch-size"] === undefined ? undefined : toInt(args["batch-size"], "batch-size", 1, 10_000_000),
    maxAgeMs: args["batch-age"] === undefined ? undefined : toDurationMs(args["batch-age"], "batch-age", 0, 86_400_000),
    maxBytes: args["batch-bytes"] === undefined ? undefined : toBytes(args["batch-bytes"], "batch-bytes"),
  };
  const limitsFor = (kind: SinkKind): BatchLimits => {
    const base = defaults[kind];
    const maxBytes = override.maxBytes ?? base.maxBytes;
    if (kind === "sparkpost" && maxBytes > sparkPostMaxBytes) {
      throw new RangeError(`Cannot use --batch-bytes ${maxBytes} for SparkPost: its limit is ${sparkPostMaxBytes} bytes`);
    }
    return Object.freeze({ maxBytes, maxCount: override.maxCount ?? base.maxCount, maxAgeMs: override.maxAgeMs ?? base.maxAgeMs });
  };
  const sinks = kinds.map((kind): SinkConfig => {
    switch (kind) {
      case "sparkpost": {
        const apiKey = nonEmpty(env.SPARKPOST_API_KEY_INGEST);
        if (!apiKey) throw new RangeError("SPARKPOST_API_KEY_INGEST not set - stopping");
        let base: string;
        try {
          base = ingestBaseUrl(nonEmpty(env.SPARKPOST_HOST_INGEST));
        } catch (error) {
          throw new RangeError(`Cannot use SPARKPOST_HOST_INGEST: ${(error as Error).message}`);
        }
        return { kind, name: "sparkpost", url: ingestEventsUrl(base), apiKey, limits: limitsFor(kind), events: parseEventSelection(args["sparkpost-events"], "sparkpost-events") };
      }
      case "webhook": {
        const url = nonEmpty(args["webhook-url"]);
        if (!url) throw new RangeError("Cannot use the webhook sink: --webhook-url is missing");
        if (!/^https?:\/\/[^/]/i.test(url) || !URL.canParse(url)) throw new RangeError(`Cannot use --webhook-url "${url}": expected an http(s) URL`);
        const secret = nonEmpty(args["webhook-secret"]) ?? nonEmpty(env.MTATRACK_WEBHOOK_SECRET) ?? null;
        const previousSecret = nonEmpty(args["webhook-secret-previous"]) ?? nonEmpty(env.MTATRACK_WEBHOOK_SECRET_PREVIOUS) ?? null;
        if (previousSecret !== null && secret === null) throw new RangeError("Cannot use --webhook-secret-previous without --webhook-secret");
        const headers = (args["webhook-header"] ?? []).map(parseHeader);
        return { kind, name: "webhook", url, secret, previousSecret, headers: Object.freeze(headers), limits: limitsFor(kind), events: parseEventSelection(args["webhook-events"], "webhook-events") };
      }
      case "file": {
        const path = nonEmpty(args.file);
        if (!path) throw new RangeError("Cannot use the file sink: --file is missing (a path, or - for stdout)");
        const rotate = parseRotation(args["file-rotate"] ?? "none");
        if (path === "-" && rotate.kind !== "none") throw new RangeError("Cannot rotate stdout: drop --file-rotate or give --file a path");
        return { kind, name: "file", path, rotate, limits: limitsFor(kind), events: parseEventSelection(args["file-events"], "file-events") };
      }
    }
  });
  return Object.freeze({
    sinks: Object.freeze(sinks.map((s) => Object.freeze(s))),
    concurrency: args.concurrency === undefined ? 4 : toInt(args.concurrency, "concurrency", 1, 64),
    leaseMs: args.lease === undefined ? 120_000 : toDurationMs(args.lease, "lease", 1_000, 86_400_000),
    shutdownTimeoutMs: args["shutdown-timeout"] === undefined ? 10_000 : toDurationMs(args["shutdown-timeout"], "shutdown-timeout", 0, 3_600_000),
    metricsListen: args["metrics-listen"] === undefined ? null : parseListen(args["metrics-listen"]),
    replayDeadLetters: Boolean(args["replay-dead-letters"]),
    consumer: nonEmpty(args.consumer) ?? null,
  });
}

function chosenSinks(args: FeederArgs, env: Env): SinkKind[] {
  if (args.sink !== undefined) {
    const names = args.sink.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
    for (const n of names) {
      if (n !== "sparkpost" && n !== "webhook" && n !== "file") throw new RangeError(`Cannot use --sink "${n}": expected sparkpost, webhook or file`);
    }
    if (names.length === 0) throw new RangeError("Cannot use an empty --sink: expected sparkpost, webhook or file");
    return [...new Set(names as SinkKind[])];
  }
  const kinds: SinkKind[] = [];
  if (nonEmpty(env.SPARKPOST_API_KEY_INGEST)) kinds.push("sparkpost");
  if (nonEmpty(args["webhook-url"])) kinds.push("webhook");
  if (nonEmpty(args.file)) kinds.push("file");
  return kinds.length > 0 ? kinds : ["sparkpost"];
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function toInt(value: string, flag: string, min: number, max: number): number {
  if (!/^\d+$/.test(value.trim())) throw new RangeError(`Cannot use --${flag} "${value}": expected a whole number`);
  const n = Number(value.trim());
  if (n < min || n > max) throw new RangeError(`Cannot use --${flag} ${n}: expected ${min} … ${max}`);
  return n;
}

/** "30" and "30s" are seconds; "500ms", "2m", "1h" as written. */
export function toDurationMs(value: string, flag: string, minMs: number, maxMs: number): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i.exec(value.trim());
  if (!m) throw new RangeError(`Cannot use --${flag} "${value}": expected a duration such as 30, 30s, 500ms or 2m`);
  const unit = (m[2] ?? "s").toLowerCase();
  const ms = Math.round(Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as Record<string, number>)[unit]!);
  if (ms < minMs || ms > maxMs) throw new RangeError(`Cannot use --${flag} "${value}": expected ${minMs} ms … ${maxMs} ms`);
  return ms;
}

/** "5242880", "512K", "100M", "1G" (binary multiples). */
export function toBytes(value: string, flag: string): number {
  const m = /^(\d+)\s*([KMG])?i?B?$/i.exec(value.trim());
  if (!m) throw new RangeError(`Cannot use --${flag} "${value}": expected a size such as 1048576, 512K or 100M`);
  const n = Number(m[1]) * ({ "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as Record<string, number>)[(m[2] ?? "").toUpperCase()]!;
  if (n < 1024) throw new RangeError(`Cannot use --${flag} "${value}": expected at least 1024 bytes`);
  return n;
}

function parseRotation(value: string): FileRotation {
  const v = value.trim().toLowerCase();
  if (v === "none" || v === "") return { kind: "none" };
  if (v === "daily" || v === "day") return { kind: "daily" };
  const size = v.startsWith("size:") ? v.slice(5) : v;
  return { kind: "size", bytes: toBytes(size, "file-rotate") };
}

function parseHeader(spec: string): readonly [string, string] {
  const colon = spec.indexOf(":");
  const name = colon > 0 ? spec.slice(0, colon).trim() : "";
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new RangeError(`Cannot use --webhook-header "${spec}": expected "Name: value"`);
  const lower = name.toLowerCase();
  if (lower === "content-type" || lower === "content-length" || lower === "x-mtatrack-signature") {
    throw new RangeError(`Cannot use --webhook-header "${spec}": ${name} is set by the feeder`);
  }
  return Object.freeze([name, spec.slice(colon + 1).trim()] as const);
}

function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new RangeError(`Cannot use --metrics-listen "${value}": expected [host]:port`);
  return { host: m[1] || "127.0.0.1", port };
}

/**
 * Every value of a repeatable flag in argv (citty keeps only the last): `--name v`, `--name=v`, and the
 * underscore spelling.
 * @example repeatedFlag(["--webhook-header", "A: 1", "--webhook-header=B: 2"], "webhook-header") // ["A: 1", "B: 2"]
 */
export function repeatedFlag(argv: readonly string[], name: string): string[] {
  const spellings = new Set([`--${name}`, `--${name.replaceAll("-", "_")}`]);
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") break;
    const eq = arg.indexOf("=");
    if (eq > 0 && spellings.has(arg.slice(0, eq))) out.push(arg.slice(eq + 1));
    else if (spellings.has(arg) && i + 1 < argv.length) out.push(argv[++i]!);
  }
  return out;
}
