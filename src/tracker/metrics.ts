/**
 * @module The tracker's Prometheus metrics (prom-client, one private registry per tracker so tests and the
 * `serve` command can run several): requests by action and status, events by outcome, machine verdicts
 * by reason, spool depth and request latency.
 */
import { Counter, Gauge, Registry } from "prom-client";

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
  /** Requests per action, indexed by status; `reported` is what the counter has been given so far. */
  const requestCounts = new Map<RequestAction, number[]>();
  const reported = new Map<RequestAction, number[]>();
  new Counter({
    name: "mtatrack_tracker_requests_total",
    help: "HTTP requests answered, by action (token action, or invalid/robots/healthz/metrics/other) and status",
    labelNames: ["action", "status"],
    registers: [registry],
    collect() {
      for (const [action, byStatus] of requestCounts) {
        let done = reported.get(action);
        if (!done) reported.set(action, (done = []));
        byStatus.forEach((n, status) => {
          const before = done[status] ?? 0;
          if (n > before) this.labels(action, String(status)).inc(n - before);
          done[status] = n;
        });
      }
    },
  });
  const latency = createHotHistogram(
    "mtatrack_tracker_request_duration_seconds",
    "Time from request to response, by action",
    "action",
    buckets,
  );
  // Not a prom-client class: the registry only calls name, get() and getForPromString() (see createHotHistogram).
  registry.registerMetric(latency.metric as unknown as Parameters<Registry["registerMetric"]>[0]);
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

  // prom-client hashes the label set on every inc() and observe(), even through labels() children (about
  // 2% of the tracker's CPU under wrk): the hot path counts requests in plain numbers per action and status,
  // handed to the counter when it is scraped.
  return {
    request(action, status, seconds) {
      let byStatus = requestCounts.get(action);
      if (!byStatus) requestCounts.set(action, (byStatus = []));
      byStatus[status] = (byStatus[status] ?? 0) + 1;
      latency.observe(action, seconds);
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

/**
 * A histogram with one label, counted in plain arrays and turned into prom-client's exposition only at
 * scrape time (prom-client's own observe() builds and hashes a label object per call). Its output is the
 * same as a prom-client Histogram's: cumulative `_bucket` series with `le` first, then `+Inf`, `_sum`, `_count`.
 */
function createHotHistogram(name: string, help: string, labelName: string, bounds: readonly number[]) {
  const series = new Map<string, { counts: number[]; sum: number; count: number }>();
  const values = () => {
    const out: { labels: Record<string, string | number>; sharedLabels: Record<string, string>; value: number; metricName: string }[] = [];
    for (const [label, s] of series) {
      const shared = { [labelName]: label };
      let acc = 0;
      bounds.forEach((le, i) => {
        acc += s.counts[i]!;
        out.push({ labels: { le }, sharedLabels: shared, value: acc, metricName: `${name}_bucket` });
      });
      out.push({ labels: { le: "+Inf" }, sharedLabels: shared, value: s.count, metricName: `${name}_bucket` });
      out.push({ labels: {}, sharedLabels: shared, value: s.sum, metricName: `${name}_sum` });
      out.push({ labels: {}, sharedLabels: shared, value: s.count, metricName: `${name}_count` });
    }
    return out;
  };
  const data = (vals: unknown[]) => ({ name, help, type: "histogram", values: vals, aggregator: "sum" });
  return {
    observe(label: string, v: number): void {
      let s = series.get(label);
      if (!s) series.set(label, (s = { counts: new Array<number>(bounds.length).fill(0), sum: 0, count: 0 }));
      // The first bound v fits under, as prom-client's findBound; past the last one only +Inf counts it.
      let i = 0;
      while (i < bounds.length && v > bounds[i]!) i++;
      if (i < bounds.length) s.counts[i]!++;
      s.sum += v;
      s.count++;
    },
    metric: {
      name,
      help,
      type: "histogram",
      aggregator: "sum",
      async getForPromString() {
        return data(values());
      },
      /** As prom-client's get() (getMetricsAsJSON): the shared label merged into each value's labels. */
      async get() {
        return data(values().map(({ labels, sharedLabels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } })));
      },
    },
  };
}
