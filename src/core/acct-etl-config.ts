/** @module `mtatrack acct-etl` flags → a frozen config, and the summary and progress lines it reports. */

/** The resolved acct-etl settings. */
export interface AcctEtlConfig {
  /** Files to read in order; empty means stdin (PowerMTA's pipe). */
  readonly inputs: readonly string[];
  /** TTL of each `msgID_<id>` entry in seconds. */
  readonly ttlSeconds: number;
  /** Extra accounting fields to record, beyond `rcpt` and `header_x-sp-subaccount-id`. */
  readonly fields: readonly string[];
  /** How long the store may stay unreachable before the command gives up and exits non-zero. */
  readonly storeRetryMs: number;
}

/** Ten days, as the original's `MsgIDTTL`. */
export const DEFAULT_TTL_SECONDS = 864000;

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** How long the store may stay unreachable by default: long enough for a Redis restart or failover. */
export const DEFAULT_STORE_RETRY_SECONDS = 30;

/**
 * Parses a duration flag: whole seconds (`864000`) or a number with a unit (`10d`, `12h`, `30m`, `45s`).
 * @param flag the flag's name, for the message
 * @throws RangeError when it is not one of those, or under one second
 * @example parseSeconds("10d", "ttl") // 864000
 */
export function parseSeconds(text: string, flag: string): number {
  const m = /^\s*(\d+)\s*([smhd]?)\s*$/i.exec(text);
  const seconds = m ? Number(m[1]) * UNITS[(m[2] || "s").toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(seconds) || seconds < 1) {
    throw new RangeError(`Cannot use --${flag} "${text}": expected seconds or a number with s, m, h or d, at least 1 s (e.g. 10d)`);
  }
  return seconds;
}

/**
 * Every value of a repeatable flag in `rawArgs` (`--name v`, `--name=v`), in order. citty keeps only the
 * last one, so repeatable flags are read here. `rawArgs` must already have Go-style `-name` turned into `--name`.
 * @example flagValues(["--field", "a", "--field=b"], "field") // ["a", "b"]
 */
export function flagValues(rawArgs: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") break;
    if (arg === `--${name}`) {
      const next = rawArgs[i + 1];
      if (next === undefined || next.startsWith("--")) throw new RangeError(`Flag --${name} needs a value`);
      out.push(next);
      i++;
    } else if (arg.startsWith(`--${name}=`)) {
      out.push(arg.slice(name.length + 3));
    }
  }
  return out;
}

/**
 * Resolves the acct-etl flags. `--field` may be repeated or comma-separated; `--infile` may be repeated.
 * @throws RangeError for a bad value (the CLI prints it as one line)
 */
export function resolveAcctEtlConfig(rawArgs: readonly string[], args: { ttl?: string | undefined; "store-retry"?: string | undefined }): AcctEtlConfig {
  const fields = flagValues(rawArgs, "field").flatMap((v) => v.split(",")).map((f) => f.trim()).filter((f) => f !== "");
  for (const f of fields) {
    if (f === "type" || f === "header_x-sp-message-id") throw new RangeError(`Cannot use --field "${f}": it is always read, as the record type or the key`);
  }
  const inputs = flagValues(rawArgs, "infile");
  if (inputs.some((p) => p === "")) throw new RangeError("Flag --infile needs a file path");
  return Object.freeze({
    inputs: Object.freeze(inputs),
    ttlSeconds: args.ttl ? parseSeconds(args.ttl, "ttl") : DEFAULT_TTL_SECONDS,
    fields: Object.freeze([...new Set(fields)]),
    storeRetryMs: 1000 * (args["store-retry"] ? parseSeconds(args["store-retry"], "store-retry") : DEFAULT_STORE_RETRY_SECONDS),
  });
}

/** The counters a summary or progress line is made of. */
export interface AcctCounts {
  bytes: number;
  rows: number;
  headers: number;
  stored: number;
  skipped: Partial<Record<string, number>>;
  pending: number;
}

/**
 * The one-line summary logged at exit.
 * @example formatSummary({ bytes: 90, rows: 3, headers: 1, stored: 1, skipped: { "not-delivery": 1 }, pending: 0 })
 * // "rows 3, headers 1, stored 1, skipped 1 (not-delivery 1)"
 */
export function formatSummary(c: AcctCounts): string {
  const reasons = Object.entries(c.skipped).filter(([, n]) => n);
  const total = reasons.reduce((sum, [, n]) => sum + (n ?? 0), 0);
  const detail = reasons.length ? ` (${reasons.map(([r, n]) => `${r} ${n}`).join(", ")})` : "";
  return `rows ${c.rows}, headers ${c.headers}, stored ${c.stored}, skipped ${total}${detail}${c.pending ? `, not stored ${c.pending}` : ""}`;
}

/**
 * A progress line for a terminal: file, share of bytes read, rows and rate.
 * @example formatProgress({ name: "acct.csv", bytes: 50, size: 100, rows: 1000, elapsedMs: 2000 })
 * // "acct.csv: 50% 1000 rows, 500 rows/s"
 */
export function formatProgress(p: { name: string; bytes: number; size: number; rows: number; elapsedMs: number }): string {
  const pct = p.size > 0 ? Math.min(100, Math.floor((p.bytes / p.size) * 100)) : 100;
  const rate = p.elapsedMs > 0 ? Math.round((p.rows * 1000) / p.elapsedMs) : 0;
  return `${p.name}: ${pct}% ${p.rows} rows, ${rate} rows/s`;
}
