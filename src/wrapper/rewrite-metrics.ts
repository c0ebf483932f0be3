/**
 * @module Prometheus counters for the message rewriter, fed by its `metrics.message(summary)` hook:
 * messages by outcome and reason (so DKIM skips and fallbacks are counted), links tracked and skipped,
 * pixels inserted. Pass the proxy's registry so everything is served on one /metrics.
 */
import { Counter, type Registry } from "prom-client";
import type { RewriterMetrics, RewriteSummary } from "./types.ts";

/**
 * Builds the counters in `registry` and returns the hook for `createMessageRewriter({ metrics })`.
 * @example createMessageRewriter({ codec, trackingUrl, metrics: createRewriteMetrics(proxyMetrics.registry) })
 */
export function createRewriteMetrics(registry: Registry): RewriterMetrics {
  const messages = new Counter({
    name: "mtatrack_rewriter_messages_total",
    help: "Messages through the rewriter by outcome (rewritten, unchanged, fallback) and reason (dkim-signed, undecodable-part, …)",
    labelNames: ["outcome", "reason"],
    registers: [registry],
  });
  const links = new Counter({ name: "mtatrack_rewriter_links_total", help: "Links rewritten to tracked links", registers: [registry] });
  const skipped = new Counter({ name: "mtatrack_rewriter_links_skipped_total", help: "Links seen and deliberately left alone", registers: [registry] });
  const pixels = new Counter({ name: "mtatrack_rewriter_pixels_total", help: "Open and initial-open pixels inserted", registers: [registry] });
  return {
    message(summary: RewriteSummary) {
      messages.inc({ outcome: summary.outcome, reason: summary.reason ?? "" });
      links.inc(summary.links);
      skipped.inc(summary.skippedLinks);
      pixels.inc(summary.pixels);
    },
  };
}
