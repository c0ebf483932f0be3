/** @module One consola logger per run, always on stderr so that stdout carries only data. */
import { createConsola, type ConsolaInstance, type LogObject } from "consola";

/** What services receive: a logger they can tag but not reconfigure. */
export type Logger = Pick<ConsolaInstance, "debug" | "info" | "warn" | "error" | "withTag">;

export type LogLevelName = "silent" | "error" | "warn" | "info" | "debug" | "trace";

const levels: Record<LogLevelName, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4, trace: 5 };

export interface LoggerOptions {
  /** @default "info" */
  level?: LogLevelName;
  /** One JSON object per line instead of consola's pretty lines. @default false */
  json?: boolean;
  /** Where lines go. @default process.stderr */
  stream?: NodeJS.WritableStream;
}

/** Creates the run's logger. Only `src/commands/` calls this. */
export function createLogger({ level = "info", json = false, stream = process.stderr }: LoggerOptions = {}): ConsolaInstance {
  const logger = createConsola({
    level: levels[level],
    stdout: stream as NodeJS.WriteStream,
    stderr: stream as NodeJS.WriteStream,
    formatOptions: { date: true, colors: false, compact: true },
  });
  if (json) {
    logger.setReporters([
      {
        log(entry: LogObject) {
          const message = entry.args.map((a) => (a instanceof Error ? a.message : typeof a === "string" ? a : JSON.stringify(a))).join(" ");
          stream.write(`${JSON.stringify({ time: entry.date.toISOString(), level: entry.type, tag: entry.tag || undefined, msg: message })}\n`);
        },
      },
    ]);
  }
  return logger;
}

/** A logger that drops everything: the default for services built in tests. */
export const silentLogger: Logger = createConsola({ level: -999 });

/** Parses a `--log-level` value. */
export function toLogLevel(value: string | undefined): LogLevelName {
  const name = (value ?? "info").toLowerCase();
  if (name in levels) return name as LogLevelName;
  throw new RangeError(`Cannot use log level "${value}": expected one of ${Object.keys(levels).join(", ")}`);
}
