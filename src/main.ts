#!/usr/bin/env bun
/** @module The `mtatrack` executable: a citty root whose subcommands load only when invoked. */
import { defineCommand, renderUsage, runCommand, type CommandDef } from "citty";
import pkg from "../package.json" with { type: "json" };
import { normalizeGoFlags } from "./core/argv.ts";
import { joinRepeatedFlags } from "./core/repeated-flags.ts";
import { restoreJitPolicyAfter } from "./runtime/jit-policy.ts";

/** The root command. Each subcommand is registered here once it works, never as a placeholder. */
export const root = defineCommand({
  meta: {
    name: "mtatrack",
    version: pkg.version,
    description: "Open and click tracking for mail sent through PowerMTA",
  },
  subCommands: {
    linktool: () => import("./commands/linktool.ts").then((m) => m.default),
    "acct-etl": () => import("./commands/acct-etl.ts").then((m) => m.default),
    tracker: () => import("./commands/tracker.ts").then((m) => m.default),
    feeder: () => import("./commands/feeder.ts").then((m) => m.default),
    wrapper: () => import("./commands/wrapper.ts").then((m) => m.default),
    serve: () => import("./commands/serve.ts").then((m) => m.default),
  },
});

/** String flags that may be given more than once (their values are comma-separated lists). */
const REPEATABLE_FLAGS = ["link-key", "trust-proxy", "machine-ranges"];

/** Runs the CLI on `rawArgs` and resolves to the exit status; never calls `process.exit` itself. */
export async function runCli(rawArgs: readonly string[]): Promise<number> {
  // citty keeps only the last of a repeated flag; these flags take comma-separated lists, so fold repeats into one.
  const args = joinRepeatedFlags(normalizeGoFlags(rawArgs), REPEATABLE_FLAGS);
  if (args.length === 1 && (args[0] === "--version" || args[0] === "-v")) {
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  if (args.some((a) => a === "--help" || a === "-h")) {
    const [cmd, parent] = await resolveForUsage(root, args);
    writeUsage(process.stdout, `${await renderUsage(cmd, parent)}\n\n`);
    return 0;
  }
  try {
    await runCommand(root, { rawArgs: args });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    return reportError(error, args);
  }
}

async function reportError(error: unknown, args: string[]): Promise<number> {
  const err = error instanceof Error ? error : new Error(String(error));
  const code = (err as { code?: unknown }).code;
  // citty's own errors (E_UNKNOWN_COMMAND, E_NO_COMMAND, EARG) are usage mistakes: show where the user went wrong.
  if (err.name === "CLIError" && typeof code === "string" && (code.startsWith("E_") || code === "EARG")) {
    const [cmd, parent] = await resolveForUsage(root, args);
    // Usage after a mistake is not data: it goes to stderr, so stdout stays empty on failure.
    if (code.startsWith("E_")) writeUsage(process.stderr, `${await renderUsage(cmd, parent)}\n\n`);
    process.stderr.write(`mtatrack: ${stripAnsi(err.message)}\n`);
    return 1;
  }
  if (err.name === "CLIError" || err instanceof RangeError || err instanceof TypeError && !err.stack?.includes("node_modules")) {
    process.stderr.write(`mtatrack: ${stripAnsi(err.message)}\n`);
    return 1;
  }
  process.stderr.write(`mtatrack: unexpected error: ${err.stack ?? err.message}\n`);
  return 1;
}

/** Finds the deepest subcommand named in `args`, for usage text. */
async function resolveForUsage(cmd: CommandDef, args: string[], parent?: CommandDef): Promise<[CommandDef, CommandDef | undefined]> {
  const subs = typeof cmd.subCommands === "function" ? await cmd.subCommands() : await cmd.subCommands;
  const name = args.find((a) => !a.startsWith("-"));
  const loader = name && subs ? subs[name] : undefined;
  if (!loader) return [cmd, parent];
  const sub = (typeof loader === "function" ? await loader() : await loader) as CommandDef;
  return resolveForUsage(sub, args.slice(args.indexOf(name!) + 1), cmd);
}

/**
 * Usage text as citty renders it, without its colour codes unless `stream` is a terminal: citty colours
 * whenever NO_COLOR, TERM=dumb, CI and TEST are all unset, even into a pipe or a file.
 */
function writeUsage(stream: NodeJS.WriteStream, text: string): void {
  const colour = stream.isTTY && !process.env.NO_COLOR;
  stream.write(colour ? text : stripAnsi(text));
}

function stripAnsi(text: string): string {
  return text.replace(/\u001b\[[0-9;]*m/g, "");
}

/**
 * Subcommands after which the process exits at once. Bun's natural exit tears its VM down, about 6 ms of a
 * one-row `acct-etl` start (BENCHMARKS.md, acct-etl start-up), and `process.exit` skips that; but under Bun
 * it also drops piped stdout the reader has not taken yet, so only commands that write nothing to stdout
 * are listed (acct-etl logs with synchronous writes to fd 2 or its --logfile).
 */
const EXIT_AT_ONCE: ReadonlySet<string> = new Set(["acct-etl"]);

if (import.meta.main) {
  // The binary starts with a reluctant JIT (scripts/build.ts); a run still going after 100 ms gets the normal one.
  restoreJitPolicyAfter(100);
  const argv = process.argv.slice(2);
  const status = await runCli(argv);
  // Not after --help: usage goes to stdout.
  const usage = argv.some((a) => a === "--help" || a === "-h");
  if (!usage && EXIT_AT_ONCE.has(argv.find((a) => !a.startsWith("-")) ?? "")) process.exit(status);
  process.exitCode = status;
}
