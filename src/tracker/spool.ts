/**
 * @module The local spool: an append-only file of queue bodies, one per line, that holds events while the
 * store is down and is replayed in order when it is back.
 *
 * Files, all next to `path`:
 * - `path`: records, each one line (a JSON body, which never contains a raw newline), appended and
 *   fsynced before `append()` returns. A line without its `\n` is a torn write from a crash and is cut off
 *   at open.
 * - `path.cursor`: the byte offset of the first record not yet replayed, replaced atomically
 *   (write + fsync + rename). Records before it are done.
 * - `path.lock`: the pid of the process that owns the spool; two trackers must not share one.
 *
 * "Exactly once per spool record": a record is handed to the store in one successful push and the cursor
 * then moves past it; a record is never pushed again once the cursor has passed it, and never skipped.
 * The only window is a crash after the store accepted a replay batch and before the new cursor reached
 * the disk: that batch (at most one, at most `max` records) is pushed again on the next start with the
 * same `event_id`s, so a consumer that keys on `event_id` sees each event once. The replayer logs it.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";

export interface SpoolOptions {
  /** The spool file. */
  path: string;
  /** Cap on the unreplayed bytes; appends beyond it are refused. */
  maxBytes: number;
  /** fsync after every append and cursor move. Off only in tests that measure nothing. @default true */
  fsync?: boolean;
  /** For the lock: whether a pid is alive. @default process.kill(pid, 0) */
  isAlive?: (pid: number) => boolean;
}

export interface SpoolBatch {
  readonly bodies: readonly string[];
  /** Pass to {@link Spool.commit} once the bodies are in the store. */
  readonly end: number;
}

export interface Spool {
  /**
   * Appends `bodies` as one durable write. Returns how many were taken: all, or none when they would take
   * the spool past its cap (a partial batch would reorder nothing but complicate the caller).
   */
  append(bodies: readonly string[]): number;
  /** Up to `max` records from the cursor, in order, without moving it. */
  peek(max: number): SpoolBatch;
  /** Moves the cursor to `end` (from {@link peek}); compacts the file when nothing is left. */
  commit(end: number): void;
  /** Unreplayed records and bytes. */
  stats(): { records: number; bytes: number };
  /** True when a cursor from an earlier run pointed before the end: records that run may have pushed already. */
  readonly recoveredFromCrash: boolean;
  close(): void;
}

/**
 * Opens (creating if needed) the spool at `opts.path`, takes its lock, repairs a torn last line, and
 * counts the records left from an earlier run.
 *
 * @throws {Error} when another live process holds the lock.
 */
export function openSpool(opts: SpoolOptions): Spool {
  const { path, maxBytes, fsync = true } = opts;
  const isAlive = opts.isAlive ?? defaultIsAlive;
  const lockPath = `${path}.lock`;
  const cursorPath = `${path}.cursor`;
  takeLock(lockPath, isAlive);

  const fd = openSync(path, "a+");
  let size = fstatSync(fd).size;
  // Cut a torn last record (a crash in the middle of an append).
  if (size > 0) {
    const tail = Buffer.alloc(Math.min(size, 64 * 1024));
    let end = size;
    for (;;) {
      const from = Math.max(0, end - tail.length);
      const n = readSync(fd, tail, 0, end - from, from);
      const nl = tail.subarray(0, n).lastIndexOf(10);
      if (nl >= 0) {
        end = from + nl + 1;
        break;
      }
      if (from === 0) {
        end = 0;
        break;
      }
      end = from;
    }
    if (end !== size) {
      ftruncateSync(fd, end);
      size = end;
    }
  }
  let cursor = readCursor(cursorPath);
  // The file was compacted (truncated) and the crash came before the cursor was reset: nothing is left.
  if (cursor > size) cursor = 0;
  const recoveredFromCrash = cursor < size;
  let records = countLines(fd, cursor, size);
  let closed = false;

  const writeCursor = (value: number) => {
    const tmp = `${cursorPath}.tmp`;
    const cfd = openSync(tmp, "w");
    try {
      writeSync(cfd, String(value));
      if (fsync) fsyncSync(cfd);
    } finally {
      closeSync(cfd);
    }
    renameSync(tmp, cursorPath);
  };

  return {
    recoveredFromCrash,
    append(bodies) {
      if (closed) throw new Error("Cannot append to the spool: it is closed");
      if (bodies.length === 0) return 0;
      const data = Buffer.from(`${bodies.join("\n")}\n`);
      if (size - cursor + data.length > maxBytes) return 0;
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off, data.length - off, size + off);
      if (fsync) fsyncSync(fd);
      size += data.length;
      records += bodies.length;
      return bodies.length;
    },
    peek(max) {
      const bodies: string[] = [];
      const chunk = Buffer.alloc(256 * 1024);
      let pos = cursor;
      let carry: Buffer = Buffer.alloc(0);
      let end = cursor;
      // Split on the newline byte, not on decoded text, so a multi-byte character across chunks survives.
      while (bodies.length < max && pos < size) {
        const n = readSync(fd, chunk, 0, Math.min(chunk.length, size - pos), pos);
        if (n <= 0) break;
        pos += n;
        const data: Buffer = carry.length ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n);
        let start = 0;
        for (let nl = data.indexOf(10, start); nl >= 0 && bodies.length < max; nl = data.indexOf(10, start)) {
          bodies.push(data.toString("utf8", start, nl));
          end += nl + 1 - start;
          start = nl + 1;
        }
        carry = Buffer.from(data.subarray(start));
      }
      return { bodies, end };
    },
    commit(end) {
      if (end <= cursor) return;
      if (end > size) throw new RangeError(`Cannot move the spool cursor to ${end}: the spool has ${size} bytes`);
      const done = countLines(fd, cursor, end);
      cursor = end;
      records -= done;
      if (cursor === size) {
        // Compact: truncate first, then reset the cursor, so a crash in between leaves cursor > size,
        // which the next open reads as "nothing left" (never as "replay everything again").
        ftruncateSync(fd, 0);
        if (fsync) fsyncSync(fd);
        size = 0;
        cursor = 0;
        records = 0;
      }
      writeCursor(cursor);
    },
    stats() {
      return { records, bytes: size - cursor };
    },
    close() {
      if (closed) return;
      closed = true;
      closeSync(fd);
      rmSync(lockPath, { force: true });
    },
  };
}

function readCursor(cursorPath: string): number {
  if (!existsSync(cursorPath)) return 0;
  const text = readFileSync(cursorPath, "utf8").trim();
  return /^\d+$/.test(text) ? Number(text) : 0;
}

function countLines(fd: number, from: number, to: number): number {
  const buf = Buffer.alloc(256 * 1024);
  let count = 0;
  for (let pos = from; pos < to; ) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, to - pos), pos);
    if (n <= 0) break;
    for (let i = 0; i < n; i++) if (buf[i] === 10) count++;
    pos += n;
  }
  return count;
}

function takeLock(lockPath: string, isAlive: (pid: number) => boolean): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockPath, String(process.pid), { flag: "wx" });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number(readFileSync(lockPath, "utf8").trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new Error(`Cannot open the spool "${lockPath.slice(0, -5)}": process ${pid} holds it (give each tracker its own --spool)`);
      }
      rmSync(lockPath, { force: true }); // a stale lock from a process that died
    }
  }
  throw new Error(`Cannot lock the spool "${lockPath.slice(0, -5)}"`);
}

function defaultIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
