/** @module A dead letter: queue records a sink will not take as they are, kept with the reason until replayed. */

/** One entry of the `dead-letters` queue (JSON). */
export interface DeadLetter {
  v: 1;
  /** The sink that refused them (or that could not parse them): replay sends them there again. */
  sink: string;
  /** `rejected` (a 4xx retrying cannot fix), `malformed` (the queue record does not parse), `oversized`. */
  kind: "rejected" | "malformed" | "oversized";
  /** The sink's answer or the parse error, one line. */
  reason: string;
  /** HTTP status when there was one. */
  status: number | null;
  /** When it was dead-lettered, unix ms. */
  at: number;
  /** The queue records exactly as the tracker pushed them, so a replay re-enriches and re-formats them. */
  records: string[];
}

/**
 * Parses a dead letter; null when the body is not one.
 * @example parseDeadLetter(JSON.stringify(letter))?.sink // "sparkpost"
 */
export function parseDeadLetter(body: string): DeadLetter | null {
  try {
    const d = JSON.parse(body) as Partial<DeadLetter>;
    if (d?.v !== 1 || typeof d.sink !== "string" || !Array.isArray(d.records) || !d.records.every((r) => typeof r === "string")) return null;
    return {
      v: 1, sink: d.sink, kind: d.kind ?? "rejected", reason: String(d.reason ?? ""),
      status: typeof d.status === "number" ? d.status : null, at: Number(d.at ?? 0), records: d.records,
    };
  } catch {
    return null;
  }
}
