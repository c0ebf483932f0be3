/** @module Shared by the HTTP sinks: one POST with a timeout, its answer turned into a verdict. */
import { parseRetryAfter } from "../core/backoff.ts";
import { verdictForStatus } from "../core/delivery-verdict.ts";
import pkg from "../../package.json" with { type: "json" };
import type { DeliveryResult, FetchLike } from "./sink.ts";

export const userAgent = `mtatrack/${pkg.version}`;

export interface PostOptions {
  fetch: FetchLike;
  signal: AbortSignal;
  timeoutMs: number;
  now: () => number;
}

/** POSTs and reads the whole answer (bounded at 64 KiB of text kept). A network error or timeout rejects. */
export async function post(url: string, init: { headers: Record<string, string>; body: Uint8Array | string }, opts: PostOptions) {
  const signal = AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]);
  const res = await opts.fetch(url, { method: "POST", headers: init.headers, body: init.body as BodyInit, signal, redirect: "follow" });
  const text = (await res.text()).slice(0, 65_536);
  return { res, text };
}

/** The verdict for an HTTP answer, with `Retry-After` and a one-line reason. */
export function verdictOf(res: Response, text: string, now: () => number, errorMessage: string | null): DeliveryResult {
  const kind = verdictForStatus(res.status);
  const snippet = errorMessage ?? text.replace(/\s+/g, " ").trim().slice(0, 200);
  const reason = `HTTP ${res.status}${snippet ? `: ${snippet}` : ""}`;
  return { kind, reason, status: res.status, retryAfterMs: parseRetryAfter(res.headers.get("retry-after"), now()) };
}
