/** @module Delivering one batch to one sink until it is accepted, dead-lettered, or the feeder gives up at shutdown. */
import { backoffDelayMs } from "../core/backoff.ts";
import type { DeadLetter } from "../core/dead-letter.ts";
import type { Logger } from "../log.ts";
import type { EventQueue } from "../stores/types.ts";
import { retryablePush } from "../stores/uncertain-push.ts";
import { errorText, sleep as defaultSleep } from "./_util.ts";
import { retryReason, type FeederMetrics } from "./metrics.ts";
import type { Item } from "./prepare.ts";
import type { DeliveryResult, Sink } from "./sink.ts";

export interface DelivererDeps {
  sink: Sink;
  /** The `dead-letters` queue. */
  deadLetters: EventQueue;
  /** Aborted when the feeder stops waiting (shutdown timeout): in-flight work is abandoned, unacked. */
  signal: AbortSignal;
  now: () => number;
  random: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  log: Logger;
  metrics: FeederMetrics;
  backoff?: { baseMs?: number; maxMs?: number };
}

/** Sends batches with retries; dead-letters what the sink refuses for good. */
export class Deliverer {
  readonly #d: DelivererDeps;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Events this deliverer has dead-lettered as rejected (for the replay's summary). */
  rejectedEvents = 0;

  constructor(deps: DelivererDeps) {
    this.#d = deps;
    this.#sleep = deps.sleep ?? defaultSleep;
  }

  /**
   * Delivers `items` as one batch. Retries network errors, 429, 5xx and sink-wide 4xx without limit
   * (honouring `Retry-After`); splits on 413; dead-letters other 4xx.
   * @returns the items that are done (accepted or safely dead-lettered): the caller acks exactly these
   */
  async deliver(items: readonly Item[]): Promise<Item[]> {
    const { sink, signal, metrics, log } = this.#d;
    const batch = { records: items.map((i) => i.record), eventIds: items.map((i) => i.eventId), bytes: items.reduce((n, i) => n + i.bytes, 0) };
    const started = this.#d.now();
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) return [];
      let result: DeliveryResult;
      try {
        result = await sink.deliver(batch, { signal });
      } catch (error) {
        if (signal.aborted) return [];
        result = { kind: "retry", reason: `network error: ${errorText(error)}` };
      }
      switch (result.kind) {
        case "accepted":
          metrics.batchesSent.inc({ sink: sink.name });
          metrics.eventsSent.inc({ sink: sink.name }, items.length);
          metrics.deliverySeconds.observe({ sink: sink.name }, (this.#d.now() - started) / 1000);
          if (attempt > 0) log.info(`${sink.name}: batch of ${items.length} events accepted after ${attempt} retries`);
          if (result.detail) log.info(`${sink.name}: ${result.detail}`);
          return [...items];
        case "split":
          if (items.length > 1) {
            const half = Math.ceil(items.length / 2);
            log.warn(`${sink.name}: batch of ${items.length} events too large for the sink (${result.reason}); sending it in two halves`);
            const first = await this.deliver(items.slice(0, half));
            return [...first, ...(await this.deliver(items.slice(half)))];
          }
          // One event the sink finds too large can never be sent: it is rejected.
          return await this.#reject(items, result);
        case "reject":
          return await this.#reject(items, result);
        case "retry": {
          const delay = result.retryAfterMs ?? backoffDelayMs(attempt, { ...this.#d.backoff, random: this.#d.random });
          metrics.retries.inc({ sink: sink.name, reason: retryReason(result.status) });
          log.warn(`${sink.name}: batch of ${items.length} events not accepted (${result.reason}); retry ${attempt + 1} in ${(delay / 1000).toFixed(1)} s`);
          await this.#sleep(delay, signal);
        }
      }
    }
  }

  async #reject(items: readonly Item[], result: DeliveryResult): Promise<Item[]> {
    this.#d.log.error(`${this.#d.sink.name}: batch of ${items.length} events rejected (${result.reason}); moved to the dead letters`);
    if (!(await this.deadLetter(items, { kind: "rejected", reason: result.reason, status: result.status ?? null }))) return [];
    this.rejectedEvents += items.length;
    return [...items];
  }

  /** Pushes one dead letter (retrying store errors until shutdown gives up); true once it is stored. */
  async deadLetter(items: readonly { body: string }[], what: Pick<DeadLetter, "kind" | "reason" | "status">): Promise<boolean> {
    const { sink, metrics } = this.#d;
    const letter: DeadLetter = { v: 1, sink: sink.name, ...what, at: this.#d.now(), records: items.map((i) => i.body) };
    // A retry after a lost answer asks whether the letter landed before pushing it a second time.
    const ok = await this.withStoreRetry(retryablePush(this.#d.deadLetters, [JSON.stringify(letter)]), this.#d.signal, "dead-letter push");
    if (ok) {
      metrics.deadLetters.inc({ sink: sink.name, reason: what.kind });
      metrics.deadLetterEvents.inc({ sink: sink.name }, items.length);
    }
    return ok;
  }

  /** Runs a store call until it succeeds or `signal` aborts; false when it gave up. */
  async withStoreRetry(call: () => Promise<unknown>, signal: AbortSignal, what: string): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) return false;
      try {
        await call();
        return true;
      } catch (error) {
        this.#d.metrics.storeErrors.inc({ sink: this.#d.sink.name });
        const delay = backoffDelayMs(attempt, { baseMs: 200, maxMs: 10_000, random: this.#d.random });
        this.#d.log.warn(`${this.#d.sink.name}: store ${what} failed (${errorText(error)}); retry in ${(delay / 1000).toFixed(1)} s`);
        await this.#sleep(delay, signal);
      }
    }
  }
}
