/** @module The port every feeder sink implements: format one event, deliver one batch, report a verdict. */
import type { Accounting } from "../core/accounting.ts";
import type { BatchLimits } from "../core/batcher.ts";
import type { Verdict } from "../core/delivery-verdict.ts";
import type { TrackingEvent } from "../core/event.ts";
import type { EventSelection } from "../core/event-selection.ts";

/** One batch as a sink receives it. */
export interface DeliveryBatch {
  /** One formatted record per event, without separators. */
  readonly records: readonly string[];
  /** The events' `event_id`s, same order: a sink may derive an idempotency key from them. */
  readonly eventIds: readonly string[];
  /** Sum of the records' UTF-8 lengths plus one separator each. */
  readonly bytes: number;
}

/** What a delivery attempt came to; `detail` is logged on success. */
export type DeliveryResult = Verdict & { detail?: string };

export interface Sink {
  /** Stable name: the consumer group on the `events` queue, the metrics label, the dead letters' `sink`. */
  readonly name: string;
  readonly limits: BatchLimits;
  /** At most this many batches in flight, whatever the feeder's concurrency (1 for a file: one writer). */
  readonly maxInFlight?: number;
  /** Which events this sink receives; the others are acked for it without being sent. @default "all" */
  readonly events?: EventSelection;
  /** The event in this sink's shape, one record. Pure. */
  format(event: TrackingEvent, accounting: Accounting | null): string;
  /**
   * Sends one batch. Resolves with a verdict for every answer, including failures; rejects only when the
   * attempt could not complete (network error, abort), which the feeder treats as retryable.
   */
  deliver(batch: DeliveryBatch, opts: { signal: AbortSignal }): Promise<DeliveryResult>;
  close(): Promise<void>;
}

/** `fetch` as the HTTP sinks use it; injected so tests and benchmarks can wrap it. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;
