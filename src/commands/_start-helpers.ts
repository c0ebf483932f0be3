/** @module What the parts' start functions (_tracker-start.ts, _wrapper-start.ts, _feeder-start.ts) share: reading a flag's file, binding a port. */
import { readFileSync } from "node:fs";
import { CLIError } from "../errors.ts";

/** Reads a file a flag names; a missing or unreadable one is the user's mistake. */
export function readFlagFile(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new CLIError(`Cannot read ${what} "${path}": ${(err as Error).message}`, "EARG", { cause: err });
  }
}

/** Binding a port is the run's failure, not the user's usage mistake. */
export async function listening<T>(what: string, p: Promise<T>): Promise<T> {
  return await p.catch((err: Error) => {
    throw new CLIError(`Cannot listen on ${what}: ${err.message}`, "ERUNTIME", { cause: err });
  });
}
