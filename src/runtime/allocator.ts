/**
 * @module The allocator setting a long-running server starts with. Bun allocates through mimalloc, which
 * gives freed pages back to the system 10 ms after they empty (`MIMALLOC_PURGE_DELAY`); a busy server frees
 * and refills the same pages all the time, so its scavenger thread keeps returning them and the request
 * thread keeps faulting them back in. With 1000 ms the tracker answered about 4% more requests a second for
 * 4% less CPU each, with resident memory about the same (BENCHMARKS.md, tracker, session 11).
 *
 * mimalloc reads its options once, as the process starts, so the setting cannot be made from JavaScript:
 * the process replaces itself (execve: the same PID, open files and signal handling, before anything is
 * opened) with the variable set. An operator's own value, `MIMALLOC_PURGE_DELAY=10` (mimalloc's default)
 * included, is left alone.
 */
import process from "node:process";
import { selfCommand } from "./workers.ts";

const PURGE_DELAY_ENV = "MIMALLOC_PURGE_DELAY";
/** Milliseconds an emptied page stays with the process before it goes back to the system. */
const SERVER_PURGE_DELAY_MS = 1000;

type Execve = (file: string, args: string[], env: Record<string, string | undefined>) => never;

/**
 * Under Bun, with `MIMALLOC_PURGE_DELAY` unset: replaces this process with itself started with it set to
 * {@link SERVER_PURGE_DELAY_MS}, and does not return. Returns where there is nothing to do (set already;
 * Deno and Node, which do not use mimalloc; Windows) or when the replacement failed (`onFailure` says why: the
 * server then runs with the default setting).
 */
export function restartWithServerAllocator(onFailure: (reason: string) => void): void {
  // Windows has no execve (Node's throws there): it keeps mimalloc's default, without a warning on every start.
  if (!("Bun" in globalThis) || process.platform === "win32" || process.env[PURGE_DELAY_ENV] !== undefined) return;
  const execve = (process as unknown as { execve?: Execve }).execve;
  if (typeof execve !== "function") return;
  const command = selfCommand();
  try {
    execve.call(process, command[0]!, command, { ...process.env, [PURGE_DELAY_ENV]: String(SERVER_PURGE_DELAY_MS) });
  } catch (err) {
    onFailure((err as Error).message);
  }
}
