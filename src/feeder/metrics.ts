/** @module The feeder's Prometheus metrics (prom-client): queue lag, batches, retries, dead letters. */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { EventQueue } from "../stores/types.ts";

/** Counters and gauges the feeder updates; one instance per process, served on /metrics by the command. */
export class FeederMetrics {
  readonly registry: Registry;
  readonly batchesSent: Counter<"sink">;
  readonly eventsSent: Counter<"sink">;
  readonly retries: Counter<"sink" | "reason">;
  readonly deadLetters: Counter<"sink" | "reason">;
  readonly deadLetterEvents: Counter<"sink">;
  readonly enrichMissing: Counter<"sink">;
  readonly eventsSkipped: Counter<"sink">;
  readonly storeErrors: Counter<"sink">;
  readonly inFlight: Gauge<"sink">;
  readonly deliverySeconds: Histogram<"sink">;
  readonly #queues = new Map<string, EventQueue>();

  constructor(registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.batchesSent = new Counter({ name: "mtatrack_feeder_batches_sent_total", help: "Batches the sink accepted", labelNames: ["sink"], registers });
    this.eventsSent = new Counter({ name: "mtatrack_feeder_events_sent_total", help: "Events the sink accepted", labelNames: ["sink"], registers });
    this.retries = new Counter({
      name: "mtatrack_feeder_retries_total",
      help: "Delivery attempts that will be retried, by reason (network, 429, 5xx, 4xx for a sink-wide 401/403/404, write)",
      labelNames: ["sink", "reason"],
      registers,
    });
    this.deadLetters = new Counter({
      name: "mtatrack_feeder_dead_letters_total",
      help: "Dead letters written, by reason (rejected, malformed, oversized)",
      labelNames: ["sink", "reason"],
      registers,
    });
    this.deadLetterEvents = new Counter({ name: "mtatrack_feeder_dead_letter_events_total", help: "Queue records moved to the dead letters", labelNames: ["sink"], registers });
    this.enrichMissing = new Counter({ name: "mtatrack_feeder_enrich_missing_total", help: "Events sent without an accounting entry (msgID_ key missing or corrupt)", labelNames: ["sink"], registers });
    this.eventsSkipped = new Counter({ name: "mtatrack_feeder_events_skipped_total", help: "Events this sink does not take (--<sink>-events), acked without sending", labelNames: ["sink"], registers });
    this.storeErrors = new Counter({ name: "mtatrack_feeder_store_errors_total", help: "Store calls that failed (claim, ack, get, dead-letter push)", labelNames: ["sink"], registers });
    this.inFlight = new Gauge({ name: "mtatrack_feeder_batches_in_flight", help: "Batches sent or waiting to be retried", labelNames: ["sink"], registers });
    this.deliverySeconds = new Histogram({
      name: "mtatrack_feeder_delivery_seconds",
      help: "Time from a batch's first attempt until the sink accepted it",
      labelNames: ["sink"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    const queues = this.#queues;
    new Gauge({
      name: "mtatrack_feeder_queue_lag_events",
      help: "Events in the queue not yet accepted by this sink (waiting or leased)",
      labelNames: ["sink"],
      registers,
      async collect() {
        for (const [sink, q] of queues) this.set({ sink }, (await q.stats().catch(() => null))?.depth ?? NaN);
      },
    });
    new Gauge({
      name: "mtatrack_feeder_queue_oldest_age_seconds",
      help: "Age of the oldest event this sink has not yet had accepted",
      labelNames: ["sink"],
      registers,
      async collect() {
        for (const [sink, q] of queues) {
          const age = (await q.stats().catch(() => null))?.oldestAgeMs;
          this.set({ sink }, age === undefined ? NaN : (age ?? 0) / 1000);
        }
      },
    });
  }

  /** Reports this sink's queue lag on every scrape. */
  watchQueue(sink: string, queue: EventQueue): void {
    this.#queues.set(sink, queue);
  }

  /** The text exposition for GET /metrics. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** The `reason` label of a retry: network, 429, 5xx, 4xx, or other. */
export function retryReason(status: number | undefined): string {
  if (status === undefined) return "network";
  if (status === 429) return "429";
  if (status >= 500) return "5xx";
  if (status >= 400) return "4xx";
  return "other";
}
