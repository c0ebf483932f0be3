/** @module Flag groups every subcommand shares, spread into each command's `args`. */
import type { ArgsDef } from "citty";
import { createLogger, toLogLevel } from "../log.ts";
import { localTimeIsUtc } from "../runtime/local-time.ts";
import { openLogFile } from "../runtime/log-file.ts";
import { createFdWriter } from "../runtime/stderr.ts";
import { CLIError } from "../errors.ts";
import { parseKeyRing } from "../core/key-ring.ts";
import type { LinkKey } from "../core/link-codec.ts";

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

/**
 * Builds the run's logger from the shared flags, tagged with the subcommand's name. Lines go to fd 2, or to
 * the `--logfile` opened for appending (and reopened when logrotate moves it), written with `writeSync`:
 * Node's stderr and file streams cost a short run (`acct-etl`, which PowerMTA may start often) more CPU
 * than its work (BENCHMARKS.md, acct-etl start-up).
 * @throws {CLIError} EARG when the log file cannot be opened.
 */
export function loggerFromArgs(args: { "log-level"?: string; json?: boolean; logfile?: string }, env: Env, tag: string) {
  const level = toLogLevel(args["log-level"] ?? env.MTATRACK_LOG_LEVEL);
  const stream = args.logfile ? openLogFileArg(args.logfile) : createFdWriter(2);
  return createLogger({ level, json: Boolean(args.json), stream, utc: localTimeIsUtc(env) }).withTag(tag);
}

function openLogFileArg(path: string) {
  try {
    return openLogFile(path);
  } catch (error) {
    throw new CLIError(`Cannot open --logfile "${path}": ${(error as Error).message}`, "EARG", { cause: error });
  }
}

/** `--link-key kid:secret` (repeatable, or comma-separated; env MTATRACK_LINK_KEYS) and `--accept-v1`. */
export const linkKeyArgs = {
  "link-key": { type: "string", description: "Link key kid:secret; repeat it or separate keys with commas; the first signs, all verify (env MTATRACK_LINK_KEYS)", valueHint: "kid:secret" },
  "accept-v1": { type: "boolean", description: "Also accept the original's unsigned v1 links" },
} as const satisfies ArgsDef;

/**
 * The key ring from `--link-key` (main.ts folds repeats into one comma-separated value), else from env
 * MTATRACK_LINK_KEYS ("kid:secret,kid2:secret2"). Flags win over env; no keys gives an empty ring.
 * @throws {CLIError} EARG with the reason (never the secret).
 */
export function keysFromArgs(args: { "link-key"?: string | readonly string[] }, env: Env): LinkKey[] {
  const flag = args["link-key"];
  const specs = (typeof flag === "string" ? [flag] : flag ?? []).filter((s) => s !== "");
  const source = specs.length > 0 ? specs : [env.MTATRACK_LINK_KEYS ?? ""];
  try {
    return parseKeyRing(source.flatMap((s) => s.split(",")));
  } catch (error) {
    throw new CLIError((error as Error).message, "EARG", { cause: error });
  }
}
