/**
 * @module The accounting pipeline: a byte stream of PowerMTA CSV → rows → KV writes in batches, bad rows
 * counted and skipped, store outages retried up to a bound. Built from a deps object; the command owns I/O.
 */
import { formatSummary } from "../core/acct-etl-config.ts";
import { CsvParser, type CsvRow } from "../core/csv-parser.ts";
import { ACCT_HEADERS_KEY, AcctRecordMapper, type AcctSkipReason } from "../core/csv-record.ts";
import { CLIError } from "../errors.ts";
import { silentLogger, type Logger } from "../log.ts";
import type { KvStore } from "../stores/types.ts";
import { sleep, withTimeout } from "../core/timers.ts";

/** Why a row was skipped: the mapper's reasons, plus a last record cut off by a stop signal. */
export type AcctEtlSkipReason = AcctSkipReason | "incomplete";

export interface AcctPipelineDeps {
  kv: KvStore;
  /** @default silentLogger */
  log?: Logger;
  /** @default Date.now */
  now?: () => number;
}

export interface AcctPipelineOptions {
  /** TTL of the `msgID_<id>` entries. @default 864000 (10 days, as the original) */
  ttlSeconds?: number;
  /** Extra fields to record (`--field`). @default [] */
  fields?: readonly string[];
  /** Write when this many entries are waiting. @default 2000 */
  batchSize?: number;
  /** …or when the oldest waiting entry is this old, so a quiet pipe still lands each row promptly. @default 200 */
  flushIntervalMs?: number;
  /** How long the store may keep failing before the pipeline gives up. @default 30000 */
  storeRetryMs?: number;
  /** One write attempt that takes longer than this counts as failed (and is retried; writes are idempotent). @default 10000 */
  writeTimeoutMs?: number;
  /** Longest CSV record. @default 65536 */
  maxRecordLength?: number;
  /** Skipped rows logged per reason before the rest are only counted. @default 20 */
  logLimitPerReason?: number;
  /** Log the counters this often, so a pipe that runs for days shows it is alive; 0 = never. @default 3600000 */
  statsIntervalMs?: number;
}

/** Counters, live (from {@link AcctPipeline.stats}) or final (from close). */
export interface AcctSummary {
  /** Bytes read from all inputs. */
  bytes: number;
  /** CSV records read, header rows included, blank lines not. */
  rows: number;
  headers: number;
  /** Delivery rows whose write the store confirmed. */
  stored: number;
  skipped: Partial<Record<AcctEtlSkipReason, number>>;
  /** Delivery rows read but not (yet) confirmed stored. */
  pending: number;
  /** Set when the store stayed unreachable past the bound. */
  error: string | null;
}

export interface ConsumeOptions {
  /** Name used in log lines, e.g. a file path. @default "stdin" */
  name?: string;
}

export interface CloseOptions {
  /** Keep reading this long before stopping, to take in what the writer already put in the pipe. @default 0 */
  graceMs?: number;
}

export interface AcctPipeline {
  /** Reads `input` to its end (or until close) and resolves once every row it held is handed to the writer. Rejects only when the store stays unreachable. */
  consume(input: ReadableStream<Uint8Array>, opts?: ConsumeOptions): Promise<void>;
  /** Writes what is waiting and resolves when the store confirmed it. */
  flush(): Promise<void>;
  /** Live counters. */
  stats(): AcctSummary;
  /** Stops reading (after `graceMs`), writes everything read, and resolves with the summary. Never rejects. */
  close(opts?: CloseOptions): Promise<AcctSummary>;
}

/**
 * Creates the pipeline. Feed it one or more inputs with `consume`, then `close` it.
 *
 * @example
 * const etl = createAcctPipeline({ kv: store.kv, log }, { ttlSeconds: 864000 });
 * await etl.consume(stdinStream());
 * const summary = await etl.close();
 */
export function createAcctPipeline(deps: AcctPipelineDeps, opts: AcctPipelineOptions = {}): AcctPipeline {
  return new Pipeline(deps, opts);
}

type Entry = readonly [key: string, value: string];

class Pipeline implements AcctPipeline {
  readonly #kv: KvStore;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #ttl: number;
  readonly #batchSize: number;
  readonly #intervalMs: number;
  readonly #retryMs: number;
  readonly #writeTimeoutMs: number;
  readonly #maxRecord: number;
  readonly #logLimit: number;
  readonly #mapper: AcctRecordMapper;

  readonly #s: AcctSummary = { bytes: 0, rows: 0, headers: 0, stored: 0, skipped: {}, pending: 0, error: null };
  #batch: Entry[] = [];
  #header: string | null = null;
  /** The last header handed to the writer (or waiting for it): PowerMTA repeats headers, one write is enough. */
  #headerQueued: string | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #statsTimer: ReturnType<typeof setInterval> | null = null;
  #inflight: Promise<void> | null = null;
  #fatal: CLIError | null = null;
  #closing = false;
  /** close() stopped the input before its end. */
  #cancelled = false;
  #reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  #active: Promise<void> | null = null;

  constructor({ kv, log = silentLogger, now = Date.now }: AcctPipelineDeps, o: AcctPipelineOptions) {
    this.#kv = kv;
    this.#log = log;
    this.#now = now;
    this.#ttl = o.ttlSeconds ?? 864000;
    this.#batchSize = Math.max(1, o.batchSize ?? 2000);
    this.#intervalMs = Math.max(1, o.flushIntervalMs ?? 200);
    this.#retryMs = Math.max(0, o.storeRetryMs ?? 30000);
    this.#writeTimeoutMs = Math.max(1, o.writeTimeoutMs ?? 10000);
    this.#maxRecord = o.maxRecordLength ?? 65536;
    this.#logLimit = o.logLimitPerReason ?? 20;
    this.#mapper = new AcctRecordMapper({ fields: o.fields });
    const every = o.statsIntervalMs ?? 3_600_000;
    if (every > 0) {
      this.#statsTimer = setInterval(() => this.#log.info(`So far: ${formatSummary(this.#s)}`), every);
      (this.#statsTimer as { unref?: () => void }).unref?.(); // never the reason the process stays up
    }
  }

  consume(input: ReadableStream<Uint8Array>, { name = "stdin" }: ConsumeOptions = {}): Promise<void> {
    if (this.#active) throw new TypeError("Cannot consume two inputs at once: await the first");
    const run = this.#consume(input, name).finally(() => {
      this.#active = null;
    });
    this.#active = run.catch(() => {});
    return run;
  }

  async #consume(input: ReadableStream<Uint8Array>, name: string): Promise<void> {
    if (this.#closing) {
      await input.cancel().catch(() => {});
      return;
    }
    const reader = input.getReader();
    this.#reader = reader;
    const decoder = new TextDecoder(); // invalid UTF-8 becomes U+FFFD, as Go's encoder would write it
    const parser = new CsvParser({ maxRecordLength: this.#maxRecord });
    const rows: CsvRow[] = [];
    let yieldedAt = this.#now();
    try {
      for (;;) {
        this.#throwIfFatal();
        // A file (or a fast store) can keep every await on the microtask queue; give timers and signal
        // handlers a turn now and then, or the flush bound, progress and SIGTERM would wait for the end.
        if (this.#now() - yieldedAt >= 50) {
          await sleep(0);
          yieldedAt = this.#now();
        }
        const { value, done } = await reader.read();
        if (done) break;
        this.#s.bytes += value.byteLength;
        parser.push(decoder.decode(value, { stream: true }), rows);
        if (rows.length > 0) {
          await this.#handle(rows, name);
          rows.length = 0;
        }
      }
      parser.push(decoder.decode(), rows);
      if (this.#cancelled && parser.pending > 0) {
        // Stopped mid-record by a signal: the rest of it never came, so it is not stored half-read.
        const line = parser.line;
        parser.discard();
        this.#s.rows++;
        this.#skip("incomplete", `${name}:${line}`, "The record was cut off by the stop signal");
      } else {
        parser.finish(rows);
      }
      await this.#handle(rows, name);
      this.#throwIfFatal();
    } finally {
      this.#reader = null;
      reader.releaseLock();
    }
  }

  async #handle(rows: CsvRow[], name: string): Promise<void> {
    for (const row of rows) {
      this.#s.rows++;
      let rec = this.#mapper.map(row);
      if (!rec.ok && rec.reason === "no-header" && this.#mapper.wantsStoredHeader) {
        const stored = await this.#withRetry("read", () => this.#kv.getMany([ACCT_HEADERS_KEY]));
        const problem = this.#mapper.useStoredHeader(stored[0] ?? null);
        if (problem) this.#log.warn(`${name}:${row.line}: a delivery row came before any header and the stored one is not usable: ${problem}`);
        else this.#log.info(`${name}:${row.line}: a delivery row came before any header; using the stored ${ACCT_HEADERS_KEY} ${stored[0]}`);
        rec = this.#mapper.map(row);
      }
      if (!rec.ok) {
        this.#skip(rec.reason, `${name}:${rec.line}`, rec.message);
        continue;
      }
      if (rec.kind === "header") {
        this.#s.headers++;
        const missing = rec.header.missing.length ? ` (this header has no ${rec.header.missing.join(", ")})` : "";
        this.#log.info(`${name}:${rec.line}: PowerMTA accounting header; ${ACCT_HEADERS_KEY} -> ${rec.value}${missing}`);
        if (rec.value !== this.#headerQueued) {
          this.#headerQueued = rec.value;
          this.#header = rec.value;
          this.#arm();
        }
        continue;
      }
      this.#batch.push([rec.key, rec.value]);
      this.#s.pending++;
      if (this.#batch.length >= this.#batchSize) await this.#startWrite();
      else if (this.#batch.length === 1) this.#arm();
    }
  }

  #skip(reason: AcctEtlSkipReason, where: string, message: string): void {
    const n = (this.#s.skipped[reason] ?? 0) + 1;
    this.#s.skipped[reason] = n;
    if (n <= this.#logLimit) this.#log.warn(`${where}: skipped (${reason}): ${message}`);
    if (n === this.#logLimit) this.#log.warn(`Further ${reason} rows are counted in the summary but not logged`);
  }

  /** Starts the time bound for what is waiting. */
  #arm(): void {
    this.#timer ??= setTimeout(() => {
      this.#timer = null;
      this.#startWrite().catch(() => {}); // a failure is kept in #fatal and surfaces in consume/close
    }, this.#intervalMs);
  }

  /**
   * Hands the waiting entries to the writer. Waits for the previous write first, so at most one batch is
   * in flight and one is filling: memory stays bounded and a slow store slows reading (back-pressure).
   */
  async #startWrite(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    // A loop, not an if: the timer and the reading loop may both be waiting here for the same write.
    while (this.#inflight) await this.#inflight;
    if (this.#fatal || (this.#batch.length === 0 && this.#header === null)) return;
    const batch = this.#batch;
    const header = this.#header;
    this.#batch = [];
    this.#header = null;
    const write: Promise<void> = this.#write(batch, header).finally(() => {
      if (this.#inflight === write) this.#inflight = null;
    });
    this.#inflight = write;
    // One event-loop turn: Bun's Redis client sends what was pipelined when the loop turns, and reading a
    // file can stay on microtasks for a whole batch, so without it this batch would leave only once the next
    // one was parsed, and Redis would sit idle meanwhile (1M rows into Redis: 4.7-5.6 s wall against 5.5-7.1).
    await new Promise((resolve) => setImmediate(resolve));
  }

  async #write(batch: Entry[], header: string | null): Promise<void> {
    try {
      if (batch.length) await this.#withRetry("write", () => this.#kv.setMany(batch, { ttlSeconds: this.#ttl }));
      if (header !== null) {
        await this.#withRetry("write", () => this.#kv.setMany([[ACCT_HEADERS_KEY, header]], { ttlSeconds: 0 }));
      }
      this.#s.stored += batch.length;
      this.#s.pending -= batch.length;
      this.#log.debug(`Stored ${batch.length} entries${header !== null ? ` and ${ACCT_HEADERS_KEY}` : ""}`);
    } catch (error) {
      this.#fatal ??= error as CLIError;
      this.#s.error = this.#fatal.message;
      // Stop reading: a pipe that stays open would otherwise keep the failure waiting for the next chunk.
      this.#reader?.cancel().catch(() => {});
    }
  }

  /** Runs a store call until it succeeds or the store has failed for longer than the bound. */
  async #withRetry<T>(what: string, call: () => Promise<T>): Promise<T> {
    const started = this.#now();
    let delay = 50;
    let lastLog = -Infinity;
    for (let attempt = 1; ; attempt++) {
      try {
        // An attempt never outlives the bound by much: a hung connection must not hide an outage.
        const budget = Math.max(1000, Math.min(this.#writeTimeoutMs, this.#retryMs - (this.#now() - started)));
        const result = await withTimeout(call(), budget);
        if (attempt > 1) this.#log.info(`Store answers again after ${this.#now() - started} ms (${attempt} attempts)`);
        return result;
      } catch (error) {
        const elapsed = this.#now() - started;
        const reason = error instanceof Error ? error.message : String(error);
        if (elapsed >= this.#retryMs) {
          throw new CLIError(`Cannot ${what} the store for ${Math.round(elapsed / 1000)} s: ${reason}`, "ESTORE", { cause: error });
        }
        if (this.#now() - lastLog >= 5000) {
          lastLog = this.#now();
          this.#log.warn(`Store ${what} failed, retrying for up to ${Math.round((this.#retryMs - elapsed) / 1000)} s more: ${reason}`);
        }
        await sleep(Math.min(delay, this.#retryMs - elapsed));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  #throwIfFatal(): void {
    if (this.#fatal) throw this.#fatal;
  }

  async flush(): Promise<void> {
    await this.#startWrite();
    while (this.#inflight) await this.#inflight;
    this.#throwIfFatal();
  }

  stats(): AcctSummary {
    return { ...this.#s, skipped: { ...this.#s.skipped } };
  }

  async close({ graceMs = 0 }: CloseOptions = {}): Promise<AcctSummary> {
    this.#closing = true;
    if (this.#active) {
      const stop = setTimeout(() => {
        this.#cancelled = true;
        this.#reader?.cancel().catch(() => {});
      }, graceMs);
      // An input that ends by itself within the grace period is read to its end.
      await this.#active;
      clearTimeout(stop);
    }
    await this.flush().catch(() => {});
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#statsTimer) clearInterval(this.#statsTimer);
    this.#timer = this.#statsTimer = null;
    return this.stats();
  }
}
