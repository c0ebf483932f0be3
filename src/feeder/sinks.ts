/** @module Sink configurations → sinks. */
import type { SinkConfig } from "../core/feeder-config.ts";
import { createFileSink } from "./file-sink.ts";
import type { FetchLike, Sink } from "./sink.ts";
import { createSparkPostSink } from "./sparkpost-sink.ts";
import { createWebhookSink } from "./webhook-sink.ts";

export interface CreateSinksOptions {
  fetch?: FetchLike;
  now?: () => number;
  /**
   * The claims' lease: an HTTP attempt is given at most half of it (SparkPost otherwise 300 s, webhooks 30 s),
   * so that a hung request is abandoned and retried before another feeder may take its events over.
   */
  leaseMs?: number;
}

/** Builds one sink per configuration, sharing the injected fetch and clock. */
export function createSinks(configs: readonly SinkConfig[], opts: CreateSinksOptions = {}): Sink[] {
  return configs.map((c): Sink => ({ ...createSink(c, opts), events: c.events }));
}

function createSink(c: SinkConfig, { leaseMs, ...opts }: CreateSinksOptions): Sink {
  const cap = (ms: number) => (leaseMs === undefined ? ms : Math.max(1000, Math.min(ms, Math.floor(leaseMs / 2))));
  switch (c.kind) {
    case "sparkpost":
      return createSparkPostSink({ url: c.url, apiKey: c.apiKey, limits: c.limits, timeoutMs: cap(300_000), ...opts });
    case "webhook":
      return createWebhookSink({ url: c.url, secret: c.secret, previousSecret: c.previousSecret, headers: c.headers, limits: c.limits, timeoutMs: cap(30_000), ...opts });
    case "file":
      return createFileSink({ path: c.path, rotate: c.rotate, limits: c.limits, now: opts.now });
  }
}
