/**
 * @module The tracker's Prometheus metrics (prom-client, one private registry per tracker so tests and the
 * `serve` command can run several): requests by action and status, events by outcome, machine verdicts
 * by reason, spool depth and request latency.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** The `action` label of a request: the token's action, or what else the request was. */
export type RequestAction = "open" | "initial_open" | "click" | "invalid" | "robots" | "healthz" | "metrics" | "other";

export type EventOutcome = "queued" | "spooled" | "dropped" | "replayed";

export interface TrackerMetrics {
  request(action: RequestAction, status: number, seconds: number): void;
  event(outcome: EventOutcome, n?: number): void;
  machine(reason: string): void;
  /** The Prometheus text exposition, and its content type. */
  render(): Promise<{ body: string; contentType: string }>;
}

export interface TrackerMetricsOptions {
  /** Read at scrape time. */
  spool?: () => { records: number; bytes: number };
  /** Read at scrape time: 1 while events go to the spool instead of the store. */
  degraded?: () => boolean;
}

/** Latency buckets in seconds, dense below 10 ms where the tracker's goal lies. */
const buckets = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Creates the metrics of one tracker on a registry of their own. */
export function createTrackerMetrics(opts: TrackerMetricsOptions = {}): TrackerMetrics {
  const registry = new Registry();
  const requests = new Counter({
    name: "mtatrack_tracker_requests_total",
    help: "HTTP requests answered, by action (token action, or invalid/robots/healthz/metrics/other) and status",
    labelNames: ["action", "status"],
    registers: [registry],
  });
  const latency = new Histogram({
    name: "mtatrack_tracker_request_duration_seconds",
    help: "Time from request to response, by action",
    labelNames: ["action"],
    buckets,
    registers: [registry],
  });
  const events = new Counter({
    name: "mtatrack_tracker_events_total",
    help: "Events by outcome: queued in the store, spooled to the local file, replayed from the spool into the store, or dropped because the spool was full",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const machines = new Counter({
    name: "mtatrack_tracker_machine_hits_total",
    help: "Hits judged to be made by a machine, by reason (HEAD requests included, though they queue no event)",
    labelNames: ["reason"],
    registers: [registry],
  });
  const spool = opts.spool;
  new Gauge({
    name: "mtatrack_tracker_spool_records",
    help: "Events in the local spool waiting for the store",
    registers: [registry],
    collect() {
      this.set(spool?.().records ?? 0);
    },
  });
  new Gauge({
    name: "mtatrack_tracker_spool_bytes",
    help: "Size of the unreplayed part of the local spool",
    registers: [registry],
    collect() {
      this.set(spool?.().bytes ?? 0);
    },
  });
  const degraded = opts.degraded;
  new Gauge({
    name: "mtatrack_tracker_store_degraded",
    help: "1 while events are spooled locally because the store failed or the spool is draining",
    registers: [registry],
    collect() {
      this.set(degraded?.() ? 1 : 0);
    },
  });
  for (const outcome of ["queued", "spooled", "replayed", "dropped"]) events.labels(outcome).inc(0);

  // Label lookups hash the label set on every call; the hot path reuses the children instead.
  const requestChildren = new Map<string, { inc(): void }>();
  const latencyChildren = new Map<string, { observe(v: number): void }>();
  return {
    request(action, status, seconds) {
      const key = `${action} ${status}`;
      let child = requestChildren.get(key);
      if (!child) requestChildren.set(key, (child = requests.labels(action, String(status))));
      child.inc();
      let hist = latencyChildren.get(action);
      if (!hist) latencyChildren.set(action, (hist = latency.labels(action)));
      hist.observe(seconds);
    },
    event(outcome, n = 1) {
      events.labels(outcome).inc(n);
    },
    machine(reason) {
      machines.labels(reason).inc();
    },
    async render() {
      return { body: await registry.metrics(), contentType: registry.contentType };
    },
  };
}
