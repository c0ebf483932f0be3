/**
 * @module Worker processes for a listening command, as nginx's `worker_processes`: the supervisor starts
 * `count` copies of this very invocation (they share the port through SO_REUSEPORT), restarts one that
 * dies, forwards SIGTERM/SIGINT and waits for all of them. Bun and the compiled binary only.
 */
import type { Logger } from "../log.ts";
import { waitForSignal } from "./signals.ts";

const WORKER_ENV = "MTATRACK_WORKER";

/** This process's worker number (1…count), or null in a process that was not started as a worker. */
export function workerIndex(env: Record<string, string | undefined>): number | null {
  const n = Number(env[WORKER_ENV]);
  return Number.isInteger(n) && n > 0 ? n : null;
}

/** The command line that runs this process again: the binary itself, or `bun <script>`. */
export function selfCommand(): string[] {
  if ("Deno" in globalThis) throw new RangeError("Cannot start worker processes under Deno: use Bun or the compiled binary, or one process per port");
  const script = process.argv[1] ?? "";
  // A compiled binary reports its embedded entry point (/$bunfs/…) as argv[1]; the binary is execPath.
  return script.startsWith("/$bunfs/") || script.startsWith("B:/~BUN/") ? [process.execPath, ...process.argv.slice(2)] : [process.execPath, ...process.argv.slice(1)];
}

/**
 * Runs `count` workers until SIGTERM or SIGINT, then stops them the same way and resolves with 0 when
 * every worker exited 0 (else 1). A worker that dies on its own is restarted after a second.
 */
export async function superviseWorkers(opts: { count: number; log: Logger }): Promise<number> {
  const { count, log } = opts;
  const cmd = selfCommand();
  let stopping = false;
  const exits: Promise<number>[] = [];
  const procs: ReturnType<typeof Bun.spawn>[] = [];
  const start = (i: number): Promise<number> => {
    const proc = Bun.spawn(cmd, { env: { ...process.env, [WORKER_ENV]: String(i) }, stdin: "ignore", stdout: "inherit", stderr: "inherit" });
    procs[i - 1] = proc;
    return proc.exited.then(async (code) => {
      if (stopping) return code;
      log.error(`Worker ${i} (pid ${proc.pid}) exited with status ${code}; restarting it in 1 s`);
      await Bun.sleep(1000);
      return stopping ? code : start(i);
    });
  };
  for (let i = 1; i <= count; i++) exits.push(start(i));
  log.info(`Started ${count} worker processes`);
  const signal = await waitForSignal(["SIGTERM", "SIGINT"]);
  process.on("SIGTERM", () => {}); // a repeated signal (systemd's control-group kill) must not kill the supervisor
  process.on("SIGINT", () => {});
  stopping = true;
  for (const proc of procs) proc.kill(signal);
  const codes = await Promise.all(exits);
  return codes.every((c) => c === 0) ? 0 : 1;
}
