/** @module The wrapper's Prometheus metrics: messages by result, bytes, rewrite failures, upstream latency. */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Outcome of one message: what the client was told. */
export type MessageResult = "accepted" | "rejected" | "deferred" | "aborted";

/** What the proxy reports; a no-op implementation is used when metrics are off. */
export interface ProxyMetrics {
  message(result: MessageResult, bytesIn: number, bytesOut: number): void;
  rewriteFailure(reason: string): void;
  upstreamLatency(command: string, seconds: number): void;
  connection(delta: 1 | -1): void;
}

/** Metrics that go nowhere (tests, and runs without `--metrics-hostport`). */
export const noMetrics: ProxyMetrics = {
  message() {},
  rewriteFailure() {},
  upstreamLatency() {},
  connection() {},
};

/** Builds prom-client metrics in a registry of their own (so two proxies in one process do not clash). */
export function createProxyMetrics(registry: Registry = new Registry()): ProxyMetrics & { registry: Registry } {
  const messages = new Counter({ name: "mtatrack_wrapper_messages_total", help: "Messages by the reply the client got", labelNames: ["result"], registers: [registry] });
  const bytesIn = new Counter({ name: "mtatrack_wrapper_bytes_in_total", help: "Message bytes received from clients", registers: [registry] });
  const bytesOut = new Counter({ name: "mtatrack_wrapper_bytes_out_total", help: "Message bytes sent upstream (after rewriting)", registers: [registry] });
  const rewrite = new Counter({ name: "mtatrack_wrapper_rewrite_failures_total", help: "Messages relayed unmodified because rewriting failed", labelNames: ["reason"], registers: [registry] });
  const latency = new Histogram({
    name: "mtatrack_wrapper_upstream_latency_seconds",
    help: "Time from sending a command upstream to its reply",
    labelNames: ["command"],
    buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 60],
    registers: [registry],
  });
  const connections = new Gauge({ name: "mtatrack_wrapper_connections", help: "Client connections open now", registers: [registry] });
  return {
    registry,
    message(result, inBytes, outBytes) {
      messages.inc({ result });
      bytesIn.inc(inBytes);
      bytesOut.inc(outBytes);
    },
    rewriteFailure(reason) {
      rewrite.inc({ reason });
    },
    upstreamLatency(command, seconds) {
      latency.observe({ command }, seconds);
    },
    connection(delta) {
      connections.inc(delta);
    },
  };
}
