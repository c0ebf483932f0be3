/** @module Flag groups every subcommand shares, spread into each command's `args`. */
import { createWriteStream } from "node:fs";
import type { ArgsDef } from "citty";
import { createLogger, toLogLevel } from "../log.ts";

/** `--log-level`, `--json`, and the original's `-logfile`. */
export const logArgs = {
  "log-level": { type: "string", description: "silent, error, warn, info, debug or trace (default info; env MTATRACK_LOG_LEVEL)", valueHint: "level" },
  json: { type: "boolean", description: "Log one JSON object per line" },
  logfile: { type: "string", description: "Append logs to this file instead of stderr", valueHint: "path" },
} as const satisfies ArgsDef;

/** `--store` (env MTATRACK_STORE): `sqlite:PATH` or `redis://…`. */
export const storeArgs = {
  store: { type: "string", description: "Store URL: sqlite:PATH (default: a per-system file) or redis://[:password@]host:port/db (env MTATRACK_STORE)", valueHint: "url" },
} as const satisfies ArgsDef;

type Env = Record<string, string | undefined>;

/** Builds the run's logger from the shared flags, tagged with the subcommand's name. */
export function loggerFromArgs(args: { "log-level"?: string; json?: boolean; logfile?: string }, env: Env, tag: string) {
  const stream = args.logfile ? createWriteStream(args.logfile, { flags: "a" }) : process.stderr;
  const level = toLogLevel(args["log-level"] ?? env.MTATRACK_LOG_LEVEL);
  return createLogger({ level, json: Boolean(args.json), stream }).withTag(tag);
}
