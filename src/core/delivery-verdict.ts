/** @module What an HTTP sink's answer means for the batch: accepted, try again, split, or dead-letter. */

/**
 * - `accepted`: ack the events.
 * - `retry`: a transient failure (network, 408, 425, 429, 5xx) or a sink-wide misconfiguration
 *   (401, 403, 404, 405, 407) that the operator fixes without the batch changing; retried without limit.
 * - `split`: 413, the batch is too big for this sink; halves are tried, a single event is dead-lettered.
 * - `reject`: any other 4xx: this batch will never be accepted; it goes to the dead letters.
 */
export type VerdictKind = "accepted" | "retry" | "split" | "reject";

export interface Verdict {
  kind: VerdictKind;
  /** One line for the log and the dead letter. */
  reason: string;
  /** From `Retry-After`, when the sink sent one. */
  retryAfterMs?: number | null;
  status?: number;
}

const sinkWide = new Set([401, 403, 404, 405, 407]);

/**
 * Classifies an HTTP status.
 * @example verdictForStatus(429) // "retry"
 */
export function verdictForStatus(status: number): VerdictKind {
  if (status >= 200 && status < 300) return "accepted";
  if (status === 413) return "split";
  if (status === 408 || status === 425 || status === 429 || sinkWide.has(status)) return "retry";
  if (status >= 400 && status < 500) return "reject";
  return "retry";
}

/**
 * The first error message of a SparkPost API answer (`{"errors":[{"message":…,"description":…}]}`),
 * or null when the body has no errors. Non-JSON bodies have no errors.
 */
export function sparkPostErrorMessage(body: string): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return null;
  }
  const errors = (parsed as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return null;
  const first = errors[0] as { message?: unknown; description?: unknown } | null;
  const message = typeof first?.message === "string" ? first.message : JSON.stringify(first);
  return typeof first?.description === "string" ? `${message}: ${first.description}` : message;
}
