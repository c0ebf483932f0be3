/** @module The flags of `mtatrack feeder` (kept apart so the command file stays thin). */
import type { ArgsDef } from "citty";

export const feederArgs = {
  sink: { type: "string", description: "Comma-separated sinks: sparkpost, webhook, file (default: those configured; sparkpost when none is)", valueHint: "list" },
  "webhook-url": { type: "string", alias: ["webhook_url"], description: "POST batches as JSON arrays to this URL", valueHint: "url" },
  "webhook-secret": { type: "string", alias: ["webhook_secret"], description: "Sign webhook requests with HMAC-SHA256 (env MTATRACK_WEBHOOK_SECRET)", valueHint: "secret" },
  "webhook-secret-previous": { type: "string", alias: ["webhook_secret_previous"], description: "During a rotation, also sign with the old secret (env MTATRACK_WEBHOOK_SECRET_PREVIOUS)", valueHint: "secret" },
  "webhook-header": { type: "string", alias: ["webhook_header"], description: "Extra webhook header, repeatable", valueHint: "'Name: value'" },
  file: { type: "string", description: "Append NDJSON events to this file (- for stdout)", valueHint: "path" },
  "file-rotate": { type: "string", alias: ["file_rotate"], description: "Rotate the file: none, daily, or a size such as 100M", valueHint: "policy" },
  "batch-size": { type: "string", alias: ["batch_size"], description: "Events per batch at most (default: sparkpost 100000, webhook 1000, file 10000)", valueHint: "n" },
  "batch-age": { type: "string", alias: ["batch_age"], description: "Send a batch once its first event is this old (default 30s; file 1s)", valueHint: "duration" },
  "batch-bytes": { type: "string", alias: ["batch_bytes"], description: "Batch size limit in bytes, uncompressed (default 5M; SparkPost's limit)", valueHint: "size" },
  "sparkpost-events": { type: "string", alias: ["sparkpost_events"], description: "Events SparkPost receives: all (default), human, first, human-first", valueHint: "which" },
  "webhook-events": { type: "string", alias: ["webhook_events"], description: "Events the webhook receives: all (default), human (no machine opens/clicks), first, human-first", valueHint: "which" },
  "file-events": { type: "string", alias: ["file_events"], description: "Events the file receives: all (default), human, first, human-first", valueHint: "which" },
  concurrency: { type: "string", description: "Batches in flight per sink (default 4)", valueHint: "n" },
  lease: { type: "string", description: "Claimed events return to the queue this long after a crash (default 120s)", valueHint: "duration" },
  "shutdown-timeout": { type: "string", alias: ["shutdown_timeout"], description: "On SIGTERM, wait this long for answers (default 10s)", valueHint: "duration" },
  "metrics-listen": { type: "string", alias: ["metrics_listen"], description: "Serve Prometheus /metrics on [host]:port", valueHint: "addr" },
  "replay-dead-letters": { type: "boolean", alias: ["replay_dead_letters"], description: "Send the dead letters again, then exit" },
  consumer: { type: "string", description: "Consumer name in the queue groups (default host-pid-random)", valueHint: "name" },
} as const satisfies ArgsDef;
