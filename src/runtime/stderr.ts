/**
 * @module Standard error without Node's stream machinery: a writer for log lines, and a status line shown
 * only on a terminal.
 *
 * Touching `process.stderr` (or `process.stdout`) makes Bun build Node-style stdio streams, and asking
 * `process.stderr.isTTY` or loading `node:tty` does too: in a compiled binary that costs more CPU than the
 * rest of a short `acct-etl` run (BENCHMARKS.md, acct-etl start-up), and PowerMTA may start `acct-etl`
 * often. Writing with `fs.writeSync(2, …)` gives the same bytes in the same order, synchronously, as
 * Node's stderr does for files, terminals and (on Linux) pipes.
 */
import { writeSync } from "node:fs";

/** What the logger needs of a stream. */
export interface LineWriter {
  write(text: string): boolean;
}

const encoder = new TextEncoder();

/**
 * A writer for file descriptor `fd` (default 2, standard error) that writes each string at once with
 * `writeSync`. If a write fails (a non-blocking pipe that is full answers EAGAIN, a closed one EPIPE), it
 * hands the rest, and every later write, to `fallback()` (default `process.stderr`), so nothing is lost or
 * reordered and failures behave as they did with `process.stderr`.
 *
 * @example
 * createFdWriter().write("2026/11/29 08:19:32 [acct-etl] ℹ Reading stdin\n");
 */
export function createFdWriter(fd = 2, fallback: () => LineWriter = () => (fd === 1 ? process.stdout : process.stderr)): LineWriter {
  let stream: LineWriter | null = null;
  return {
    write(text: string): boolean {
      if (stream) return stream.write(text);
      const rest = writeTextSync(fd, text);
      if (rest === null) return true;
      stream = fallback();
      return stream.write(rest);
    },
  };
}

/**
 * Writes all of `text`'s UTF-8 bytes to `fd` with `writeSync`. Returns null when it did, else the part not
 * written: the text as it is when nothing was (the usual case: EAGAIN, EPIPE or ENOSPC on the first try).
 */
export function writeTextSync(fd: number, text: string): string | null {
  const bytes = encoder.encode(text);
  let offset = 0;
  try {
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    return null;
  } catch {
    return offset === 0 ? text : new TextDecoder().decode(bytes.subarray(offset));
  }
}

export interface StatusLineOptions {
  /** Redraw this often; the first check for a terminal happens after the first interval. @default 250 */
  intervalMs?: number;
  /** Where the line goes. @default a writer for fd 2 */
  writer?: LineWriter;
  /** Whether standard error is a terminal. @default `isatty(2)` from `node:tty`, loaded on first use */
  isTerminal?: () => Promise<boolean>;
}

/**
 * Redraws `render()` as a single status line (`\r`, erase, text) every `intervalMs` while standard error is a
 * terminal, and erases it on `stop()`. Whether it is a terminal is asked only when the first redraw is due,
 * so a run shorter than one interval never loads the terminal machinery and writes nothing.
 */
export function startStatusLine(render: () => string, { intervalMs = 250, writer = createFdWriter(2), isTerminal = stderrIsTerminal }: StatusLineOptions = {}): { stop(): void } {
  let terminal: boolean | null = null;
  let shown = false;
  let stopped = false;
  const timer = setInterval(async () => {
    terminal ??= await isTerminal();
    if (!terminal) return clearInterval(timer);
    if (stopped) return;
    writer.write(`\r\x1b[K${render()}`);
    shown = true;
  }, intervalMs);
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
      if (shown) writer.write("\r\x1b[K");
    },
  };
}

async function stderrIsTerminal(): Promise<boolean> {
  const { isatty } = await import("node:tty");
  return isatty(2);
}
