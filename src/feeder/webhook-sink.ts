/** @module The webhook sink: a JSON array per batch, POSTed with an HMAC-SHA256 signature header. */
import { createHash, createHmac } from "node:crypto";
import type { BatchLimits } from "../core/batcher.ts";
import { toWebhookEvent } from "../core/webhook-event.ts";
import { formatSignatureHeader, signatureHeaderName, signedPayload } from "../core/webhook-signature.ts";
import { post, userAgent, verdictOf } from "./_http.ts";
import type { FetchLike, Sink } from "./sink.ts";

export interface WebhookSinkOptions {
  url: string;
  /** Signs every request when set (`X-Mtatrack-Signature: t=<unix>,v1=<hex>`). */
  secret: string | null;
  /** During a secret rotation: also signed with this one (a second `v1=`), for receivers not yet switched. */
  previousSecret?: string | null;
  /** Extra headers, e.g. an `Authorization` the receiver wants. */
  headers?: readonly (readonly [string, string])[];
  limits: BatchLimits;
  fetch?: FetchLike;
  now?: () => number;
  /** @default 30000 */
  timeoutMs?: number;
}

/**
 * Creates the webhook sink. Each request carries `Idempotency-Key` (derived from the batch's event ids, so
 * a retried batch has the same key) and, with a secret, the signature over `<t>.<body>`.
 */
export function createWebhookSink({ url, secret, previousSecret = null, headers = [], limits, fetch = globalThis.fetch, now = Date.now, timeoutMs = 30_000 }: WebhookSinkOptions): Sink {
  return {
    name: "webhook",
    limits,
    format: (event, accounting) => JSON.stringify(toWebhookEvent(event, accounting)),
    async deliver(batch, { signal }) {
      const body = `[${batch.records.join(",")}]`;
      const h = new Headers(headers.map(([k, v]) => [k, v] as [string, string]));
      h.set("Content-Type", "application/json");
      if (!h.has("User-Agent")) h.set("User-Agent", userAgent);
      if (!h.has("Idempotency-Key")) h.set("Idempotency-Key", createHash("sha256").update(batch.eventIds.join(",")).digest("hex").slice(0, 32));
      if (secret !== null) {
        // Signed at each attempt: the timestamp is when this request was made, so receivers can bound replays.
        const t = Math.floor(now() / 1000);
        const payload = signedPayload(t, body);
        const keys = previousSecret === null ? [secret] : [secret, previousSecret];
        h.set(signatureHeaderName, formatSignatureHeader(t, keys.map((k) => createHmac("sha256", k).update(payload).digest("hex"))));
      }
      const { res, text } = await post(url, { headers: Object.fromEntries(h), body }, { fetch, signal, timeoutMs, now });
      const verdict = verdictOf(res, text, now, null);
      return verdict.kind === "accepted" ? { ...verdict, detail: `Delivered ${batch.records.length} events, HTTP ${res.status}` } : verdict;
    },
    async close() {},
  };
}
