/**
 * @module One consola logger per run, always on stderr so that stdout carries only data.
 *
 * Built on `consola/core` with our own one-line reporter: full `consola` adds its fancy and basic reporters,
 * colour and box helpers and an environment probe, about 7 ms of CPU at every start of the binary, and
 * PowerMTA may start `acct-etl` often. A line looks like `2026/11/29 08:19:32 [acct-etl] ℹ Reading stdin…`
 * (local time, as the original's Go log prefix; one line per call, no colours; an Error argument adds its indented stack).
 */
import { createConsola, type ConsolaInstance, type ConsolaReporter, type LogObject } from "consola/core";

/** What services receive: a logger they can tag but not reconfigure (a consola instance is one). */
export interface Logger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  withTag(tag: string): Logger;
  /** consola's numeric level (debug is 4), so a caller can skip building a line that would be dropped. */
  readonly level?: number;
}

export type LogLevelName = "silent" | "error" | "warn" | "info" | "debug" | "trace";

const levels: Record<LogLevelName, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4, trace: 5 };

/** What the logger writes its lines to: a Node stream, or a small writer such as `runtime/stderr.ts`'s. */
export interface LogStream {
  write(text: string): unknown;
}

export interface LoggerOptions {
  /** @default "info" */
  level?: LogLevelName;
  /** One JSON object per line instead of the pretty lines. @default false */
  json?: boolean;
  /** Where lines go (anything with a `write(string)`). @default process.stderr */
  stream?: LogStream;
  /**
   * Local time is UTC (see `runtime/local-time.ts`): stamp lines with the UTC getters, the same text without
   * the runtime loading its time-zone database (about 10 ms of CPU at the first local-time call). @default false
   */
  utc?: boolean;
}

/** Creates the run's logger. Only `src/commands/` calls this. */
export function createLogger({ level = "info", json = false, stream = process.stderr, utc = false }: LoggerOptions = {}): ConsolaInstance {
  return createConsola({
    level: levels[level],
    stdout: stream as unknown as NodeJS.WriteStream,
    stderr: stream as unknown as NodeJS.WriteStream,
    reporters: [json ? jsonReporter(stream) : prettyReporter(stream, utc)],
  });
}

/**
 * A logger that drops everything: the default for services built in tests. Not a consola instance: this
 * module is loaded at every start of the binary, and a second consola costs a short `acct-etl` run CPU.
 */
export const silentLogger: Logger = Object.freeze({
  level: levels.silent,
  debug() {},
  info() {},
  warn() {},
  error() {},
  withTag: () => silentLogger,
});

/** Parses a `--log-level` value. */
export function toLogLevel(value: string | undefined): LogLevelName {
  const name = (value ?? "info").toLowerCase();
  if (name in levels) return name as LogLevelName;
  throw new RangeError(`Cannot use log level "${value}": expected one of ${Object.keys(levels).join(", ")}`);
}

// The icons consola's own pretty reporter puts before a message, so lines look as they did with full consola.
const ICONS: Record<string, string> = {
  info: "ℹ", success: "✔", ready: "✔", start: "◐", warn: "⚠", error: "✖", fatal: "✖", fail: "✖", debug: "⚙", trace: "→",
};

function jsonReporter(stream: LogStream): ConsolaReporter {
  return {
    log(entry: LogObject) {
      const message = entry.args.map((a) => (a instanceof Error ? a.message : typeof a === "string" ? a : JSON.stringify(a))).join(" ");
      stream.write(`${JSON.stringify({ time: entry.date.toISOString(), level: entry.type, tag: entry.tag || undefined, msg: message })}\n`);
    },
  };
}

function prettyReporter(stream: LogStream, utc: boolean): ConsolaReporter {
  return {
    log(entry: LogObject) {
      const icon = ICONS[entry.type] ?? "";
      const tag = entry.tag ? `[${entry.tag}] ` : "";
      // Strings as they are, objects inspected on one line, errors as message plus indented stack (as consola did).
      const args = entry.args.map((a) => (a instanceof Error ? formatError(a) : a));
      // A lone string is its own formatting (util.format does no % substitution with one argument), and
      // skipping the call spares a short run loading node:util's inspect module.
      const message = args.length === 1 && typeof args[0] === "string" ? args[0] : formatArgs(args);
      stream.write(`${formatDate(entry.date, utc)} ${tag}${icon ? `${icon} ` : ""}${message}\n`);
    },
  };
}

function formatArgs(args: unknown[]): string {
  // Loaded on first use: importing formatWithOptions by name loads node:util's inspect module at start-up.
  const { formatWithOptions } = process.getBuiltinModule("node:util") as typeof import("node:util");
  return formatWithOptions({ colors: false, compact: true, breakLength: Infinity }, ...args);
}

function formatError(err: Error): string {
  const stack = (err.stack ?? "").split("\n").slice(err.message.split("\n").length).map((l) => `  ${l.trim()}`);
  return [err.message, ...stack].join("\n");
}

/** `YYYY/MM/DD HH:MM:SS` in local time: the original's (Go `log`) prefix. `utc`: local time is UTC. */
function formatDate(d: Date, utc: boolean): string {
  const p = (n: number) => String(n).padStart(2, "0");
  if (utc) return `${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
  return `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
