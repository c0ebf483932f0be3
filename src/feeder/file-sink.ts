/** @module The file sink: NDJSON appended to a file (fsync'd before the batch counts as accepted) or stdout, rotated by size or day. */
import { existsSync } from "node:fs";
import { open, rename, stat, type FileHandle } from "node:fs/promises";
import type { BatchLimits } from "../core/batcher.ts";
import type { FileRotation } from "../core/feeder-config.ts";
import { toWebhookEvent } from "../core/webhook-event.ts";
import type { DeliveryBatch, DeliveryResult, Sink } from "./sink.ts";

export interface FileSinkOptions {
  /** A file path, or "-" for stdout. */
  path: string;
  rotate: FileRotation;
  limits: BatchLimits;
  now?: () => number;
  /** Where "-" writes. @default process.stdout */
  stdout?: NodeJS.WritableStream;
}

/** UTC day of a time, `YYYY-MM-DD`. */
function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * Creates the file sink: one event per line in the webhook shape. Rotation renames the current file to
 * `<path>.<YYYY-MM-DD>` (daily: the UTC day it covers) or `<path>.<YYYYMMDDTHHMMSSZ>` (size, before a
 * batch would cross the limit), with `.1`, `.2`… when that name is taken; a fresh file is then started.
 * A write error (disk full, permissions) is retried, never dead-lettered: fixing the disk fixes the batch.
 */
export function createFileSink({ path, rotate, limits, now = Date.now, stdout = process.stdout }: FileSinkOptions): Sink {
  let handle: FileHandle | null = null;
  let size = 0;
  let day = "";
  /** Deliveries run one after another: one writer, lines in batch order. */
  let queue: Promise<unknown> = Promise.resolve();

  async function openFile(): Promise<FileHandle> {
    if (handle) return handle;
    const h = await open(path, "a");
    const st = await h.stat();
    size = st.size;
    day = dayOf(st.size > 0 ? st.mtimeMs : now());
    handle = h;
    return h;
  }

  async function rotateTo(suffix: string): Promise<void> {
    await handle?.close();
    handle = null;
    let target = `${path}.${suffix}`;
    for (let n = 1; existsSync(target); n++) target = `${path}.${suffix}.${n}`;
    if ((await stat(path).catch(() => null))?.size) await rename(path, target);
  }

  return {
    name: "file",
    limits,
    maxInFlight: 1,
    format: (event, accounting) => JSON.stringify(toWebhookEvent(event, accounting)),
    deliver(batch) {
      const run = queue.then(() => write(batch));
      queue = run.catch(() => {});
      return run;
    },
    async close() {
      await queue;
      await handle?.close();
      handle = null;
    },
  };

  async function write(batch: DeliveryBatch): Promise<DeliveryResult> {
      const data = batch.records.join("\n") + "\n";
      if (path === "-") {
        await new Promise<void>((resolve, reject) => stdout.write(data, (err) => (err ? reject(err) : resolve())));
        return { kind: "accepted", reason: "written to stdout" };
      }
      try {
        await openFile();
        const t = now();
        if (rotate.kind === "daily" && size > 0 && dayOf(t) !== day) await rotateTo(day);
        else if (rotate.kind === "size" && size > 0 && size + batch.bytes > rotate.bytes) {
          await rotateTo(new Date(t).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z"));
        }
        const h = await openFile();
        if (size === 0) day = dayOf(t);
        await h.write(data);
        await h.datasync();
        size += batch.bytes;
        return { kind: "accepted", reason: "written", detail: `Wrote ${batch.records.length} events to ${path}` };
      } catch (error) {
        await handle?.close().catch(() => {});
        handle = null;
        return { kind: "retry", reason: `cannot write ${path}: ${(error as Error).message}` };
      }
  }
}
