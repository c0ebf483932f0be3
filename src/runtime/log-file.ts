/**
 * @module The `--logfile` writer: appends each line to the file, and follows the path when logrotate (or an
 * operator) moves or deletes the file, so a service that runs for months keeps logging to the path it was
 * given without a restart or a signal.
 *
 * logrotate's default mode renames the file and expects the program to open a new one (its `postrotate`
 * usually sends a signal). Our services already use SIGHUP for the wrapper's certificate, and `acct-etl` is a
 * PowerMTA pipe that nobody signals, so instead the writer compares, at most once per `checkEveryMs`, the
 * file it holds open with the file at the path (device and inode, as Python's WatchedFileHandler does).
 * When they differ, or the path is gone, it opens the path anew (creating it) and writes there; the lines
 * written in between went to the moved file, which is where logrotate's `delaycompress` expects them.
 */
import { closeSync, fstatSync, openSync, statSync } from "node:fs";
import { createFdWriter, writeTextSync, type LineWriter } from "./stderr.ts";

export interface LogFileOptions {
  /** Look at the path at most this often. @default 1000 */
  checkEveryMs?: number;
  /** @default Date.now */
  now?: () => number;
  /** Where a line goes when the file refuses it (disk full, I/O error), and why the path could not be
   * reopened (said once until it can be). @default standard error */
  fallback?: LineWriter;
}

/**
 * Opens `path` for appending (creating it).
 * @throws the open's error (ENOENT for a missing directory, EACCES …): the caller names the flag.
 * @example
 * const log = openLogFile("/var/log/mtatrack/tracker.log");
 * log.write("2026/12/05 12:00:00 [tracker] ℹ Listening on 127.0.0.1:8888\n");
 */
export function openLogFile(path: string, { checkEveryMs = 1000, now = Date.now, fallback = createFdWriter(2) }: LogFileOptions = {}): LineWriter & { close(): void } {
  let fd = openSync(path, "a");
  let held = identity(fd);
  let checkedAt = now();
  let reopenFailed = false;

  /** Opens the path again when it no longer names the file held open. */
  const follow = () => {
    let atPath: string | null;
    try {
      atPath = fileId(statSync(path));
    } catch {
      atPath = null; // deleted or moved away, nothing there yet
    }
    if (atPath === held) return;
    try {
      const fresh = openSync(path, "a");
      closeSync(fd);
      fd = fresh;
      held = identity(fd);
      reopenFailed = false;
    } catch (error) {
      // The directory went away or is not writable: keep the old file rather than lose lines, and try again later.
      if (!reopenFailed) fallback.write(`Cannot reopen --logfile "${path}" (${(error as Error).message}): still writing to the file it named before\n`);
      reopenFailed = true;
    }
  };

  return {
    write(text: string): boolean {
      const t = now();
      if (t - checkedAt >= checkEveryMs || t < checkedAt) {
        checkedAt = t;
        follow();
      }
      // A log line must never throw into the code that logs it: what the file refuses goes to the fallback.
      const rest = writeTextSync(fd, text);
      return rest === null || fallback.write(rest);
    },
    close() {
      closeSync(fd);
    },
  };
}

function identity(fd: number): string {
  return fileId(fstatSync(fd));
}

function fileId(s: { dev: number; ino: number }): string {
  return `${s.dev}:${s.ino}`;
}
