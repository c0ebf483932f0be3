/**
 * @module The tracker service: store + codec + spool in, a request handler (and a metrics-only handler for
 * a separate listener) out, with `close()` that drains the spool into the store before it resolves.
 */
import { createCidrSet, type CidrSet } from "../core/cidr-set.ts";
import type { TruncateOptions } from "../core/client-address.ts";
import type { LinkCodec } from "../core/link-codec.ts";
import type { MachineRangeList } from "../core/machine-ranges.ts";
import { createMachineClassifier } from "../core/machine-verdict.ts";
import { silentLogger, type Logger } from "../log.ts";
import type { Store } from "../stores/types.ts";
import { createEventSink, type EventSink } from "./event-sink.ts";
import { createTrackerHandler, createTrackerWireHandler, type TrackerHandler, type TrackerWireHandler } from "./handler.ts";
import { createMessageMemory } from "./message-memory.ts";
import { createTrackerMetrics, type TrackerMetrics } from "./metrics.ts";
import type { Spool } from "./spool.ts";

export interface TrackerDeps {
  store: Store;
  codec: LinkCodec;
  /** The local spool (opened and closed by the caller). */
  spool: Spool;
  log?: Logger;
  /** @default loopback */
  trustedProxies?: CidrSet;
  ipTruncate?: TruncateOptions | null;
  /** @default "msys-http" */
  serverHeader?: string;
  /** @default [] (the command passes the built-ins plus --machine-ranges) */
  machineRanges?: readonly MachineRangeList[];
  /** @default 2000 */
  fastClickMs?: number;
  /** Store calls not answered within this long fail over to the spool. @default 1000 */
  storeTimeoutMs?: number;
  /** TTL of first flags and first-event times. @default 30 days */
  firstTtlSeconds?: number;
  /** False when /metrics has a listener of its own. @default true */
  serveMetricsOnMain?: boolean;
  /** Queue the events go to. @default "events" */
  queueName?: string;
  now?: () => number;
  randomBytes?: (n: number) => Uint8Array;
}

export interface Tracker {
  handler: TrackerHandler;
  /** The same handler for the mtatrack HTTP server: pixels and redirects as wire forms. */
  wireHandler: TrackerWireHandler;
  /** Answers only /metrics and /healthz (for --metrics-listen). */
  metricsHandler: TrackerHandler;
  metrics: TrackerMetrics;
  sink: EventSink;
  /** Stops the replayer after pushing what the spool holds, for at most `deadlineMs`. */
  close(opts?: { deadlineMs?: number }): Promise<void>;
}

/** Builds the tracker. Nothing listens yet: pass `handler` to `serve()`. */
export function createTracker(deps: TrackerDeps): Tracker {
  const { store, codec, spool, log = silentLogger, trustedProxies = createCidrSet(["loopback"]), ipTruncate = null,
    serverHeader = "msys-http", machineRanges = [], fastClickMs = 2000, storeTimeoutMs = 1000, firstTtlSeconds = 30 * 86400,
    serveMetricsOnMain = true, queueName = "events", now = Date.now, randomBytes } = deps;
  const ping = () => store.ping();
  let sink: EventSink;
  const metrics = createTrackerMetrics({ spool: () => spool.stats(), degraded: () => sink.degraded });
  sink = createEventSink({
    queue: store.queue({ name: queueName }),
    spool,
    log,
    ping,
    timeoutMs: storeTimeoutMs,
    onOutcome: (outcome, n) => metrics.event(outcome, n),
    now,
  });
  const memory = createMessageMemory({
    kv: store.kv,
    log,
    ttlSeconds: firstTtlSeconds,
    timeoutMs: storeTimeoutMs,
    degraded: () => sink.degraded,
    onStoreFailure: (err) => sink.reportStoreFailure(err),
  });
  const health = async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([ping(), new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${storeTimeoutMs} ms`)), storeTimeoutMs);
      })]);
    } finally {
      clearTimeout(timer);
    }
  };
  const common = { codec, sink, memory, classify: createMachineClassifier({ ranges: machineRanges, fastClickMs }), trustedProxies,
    ipTruncate, serverHeader, metrics, health, now, log, ...(randomBytes ? { randomBytes } : {}) };
  const handler = createTrackerHandler({ ...common, serveMetrics: serveMetricsOnMain });
  const wireHandler = createTrackerWireHandler({ ...common, serveMetrics: serveMetricsOnMain });
  const full = createTrackerHandler({ ...common, serveMetrics: true });
  const metricsHandler: TrackerHandler = async (req, info) => {
    const path = new URL(req.url).pathname;
    if (path === "/metrics" || path === "/healthz") return await full(req, info);
    return new Response(null, { status: 404, headers: { Server: serverHeader } });
  };
  return {
    handler,
    wireHandler,
    metricsHandler,
    metrics,
    sink,
    async close({ deadlineMs = 10_000 } = {}) {
      await sink.drain(deadlineMs);
      await sink.close();
      const { records } = spool.stats();
      if (records > 0) log.warn(`${records} event(s) stay in the spool for the next start`);
    },
  };
}
