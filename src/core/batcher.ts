/** @module Batching rules: close a batch before it reaches its byte limit, at its count limit, or at its age limit. */

export interface BatchLimits {
  /** The batch stays strictly below this many bytes (SparkPost: 5 MiB uncompressed, counted like the original). */
  maxBytes: number;
  /** At most this many items. */
  maxCount: number;
  /** A batch is closed once its first item is this old, whether or not the queue is still busy. */
  maxAgeMs: number;
}

/** SparkPost Signals Ingest's payload limit, uncompressed: 5 MiB. */
export const sparkPostMaxBytes = 5 * 1024 * 1024;

/** A closed batch. */
export interface Batch<T> {
  readonly items: T[];
  readonly bytes: number;
  /** When its first item was added (ms). */
  readonly openedAt: number;
}

/** What {@link BatchBuilder.add} did with an item. */
export interface AddResult<T> {
  /** Batches closed by this call, in order (zero, one or two). */
  closed: Batch<T>[];
  /** True when the item alone is at or over `maxBytes`: it was not added and can never be sent whole. */
  oversized: boolean;
}

/**
 * Accumulates items into batches. Pure: the caller passes the time and each item's byte size (including
 * its separator, e.g. the NDJSON newline), and sends whatever comes out closed.
 * @example
 * const b = new BatchBuilder<string>({ maxBytes: 10, maxCount: 100, maxAgeMs: 1000 });
 * b.add("12345", 6, 0).closed;   // []
 * b.add("12345", 6, 1).closed;   // [{ items: ["12345"], bytes: 6, openedAt: 0 }]
 */
export class BatchBuilder<T> {
  readonly limits: BatchLimits;
  #items: T[] = [];
  #bytes = 0;
  #openedAt = 0;

  constructor(limits: BatchLimits) {
    this.limits = {
      maxBytes: Math.max(1, limits.maxBytes),
      maxCount: Math.max(1, Math.floor(limits.maxCount)),
      maxAgeMs: Math.max(0, limits.maxAgeMs),
    };
  }

  /** Items in the open batch. */
  get size(): number {
    return this.#items.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** When the open batch must close (ms), or null when it is empty. */
  deadline(): number | null {
    return this.#items.length === 0 ? null : this.#openedAt + this.limits.maxAgeMs;
  }

  /** True when the open batch is non-empty and at or past its maximum age (the original's `AgedContent`). */
  aged(now: number): boolean {
    const deadline = this.deadline();
    return deadline !== null && now >= deadline;
  }

  /** Adds an item of `bytes` bytes at time `now`, closing the open batch first if it is aged or would reach `maxBytes`. */
  add(item: T, bytes: number, now: number): AddResult<T> {
    if (bytes >= this.limits.maxBytes) return { closed: [], oversized: true };
    const closed: Batch<T>[] = [];
    if (this.#items.length > 0 && (this.aged(now) || this.#bytes + bytes >= this.limits.maxBytes)) {
      closed.push(this.#take());
    }
    if (this.#items.length === 0) this.#openedAt = now;
    this.#items.push(item);
    this.#bytes += bytes;
    if (this.#items.length >= this.limits.maxCount) closed.push(this.#take());
    return { closed, oversized: false };
  }

  /** Closes and returns the open batch, or null when it is empty. */
  flush(): Batch<T> | null {
    return this.#items.length === 0 ? null : this.#take();
  }

  #take(): Batch<T> {
    const batch = { items: this.#items, bytes: this.#bytes, openedAt: this.#openedAt };
    this.#items = [];
    this.#bytes = 0;
    return batch;
  }
}

/**
 * UTF-8 length of a string without encoding it (lone surrogates count as U+FFFD, 3 bytes, as TextEncoder writes them).
 * @example utf8ByteLength("é") // 2
 */
export function utf8ByteLength(text: string): number {
  // Events are mostly ASCII: a native regex scan finds the first other character, and only the rest is walked.
  const first = text.search(/[^\x00-\x7f]/);
  if (first < 0) return text.length;
  let bytes = first;
  for (let i = first; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
