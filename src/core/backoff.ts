/** @module When to try a failed delivery again: exponential backoff with jitter, and `Retry-After`. */

export interface BackoffOptions {
  /** First delay. @default 500 */
  baseMs?: number;
  /** Ceiling of the exponential part. @default 60000 */
  maxMs?: number;
  /** Uniform in [0, 1); injected so tests are deterministic. */
  random: () => number;
}

/**
 * Delay before retry number `attempt` (0 for the first retry): `min(maxMs, baseMs·2^attempt)`, of which
 * a random half is jitter ("equal jitter"), so feeders that failed together do not retry together and the
 * delay never collapses to zero.
 * @example backoffDelayMs(0, { random: () => 0 }) // 250
 */
export function backoffDelayMs(attempt: number, { baseMs = 500, maxMs = 60_000, random }: BackoffOptions): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, attempt), 40));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** A `Retry-After` longer than this is clamped: a misconfigured sink must not park the feeder for days. */
export const maxRetryAfterMs = 3_600_000;

/**
 * Parses `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
 * @param nowMs the current time, for the HTTP-date form
 * @returns milliseconds to wait (0 … {@link maxRetryAfterMs}), or null when absent or unparsable
 * @example parseRetryAfter("7", 0) // 7000
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | null {
  if (value === null || value === undefined) return null;
  const text = value.trim();
  if (text === "") return null;
  if (/^\d+$/.test(text)) return Math.min(maxRetryAfterMs, Number(text) * 1000);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.min(maxRetryAfterMs, Math.max(0, at - nowMs));
}
