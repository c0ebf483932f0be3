/** @module Sink configurations → sinks. */
import type { SinkConfig } from "../core/feeder-config.ts";
import { createFileSink } from "./file-sink.ts";
import type { FetchLike, Sink } from "./sink.ts";
import { createSparkPostSink } from "./sparkpost-sink.ts";
import { createWebhookSink } from "./webhook-sink.ts";

/** Builds one sink per configuration, sharing the injected fetch and clock. */
export function createSinks(configs: readonly SinkConfig[], opts: { fetch?: FetchLike; now?: () => number } = {}): Sink[] {
  return configs.map((c): Sink => ({ ...createSink(c, opts), events: c.events }));
}

function createSink(c: SinkConfig, opts: { fetch?: FetchLike; now?: () => number }): Sink {
  switch (c.kind) {
    case "sparkpost":
      return createSparkPostSink({ url: c.url, apiKey: c.apiKey, limits: c.limits, ...opts });
    case "webhook":
      return createWebhookSink({ url: c.url, secret: c.secret, headers: c.headers, limits: c.limits, ...opts });
    case "file":
      return createFileSink({ path: c.path, rotate: c.rotate, limits: c.limits, now: opts.now });
  }
}
