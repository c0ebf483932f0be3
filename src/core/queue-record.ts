/** @module Parsing one `events` queue record back into a {@link TrackingEvent}, without ever throwing. */
import type { EventType, MachineReason, TrackingEvent } from "./event.ts";

const types: ReadonlySet<string> = new Set<EventType>(["open", "initial_open", "click"]);
const maxEventId = 2n ** 63n - 1n;

export type ParsedRecord = { ok: true; event: TrackingEvent } | { ok: false; reason: string };

/**
 * Parses and checks a queue record. Required: `event_id` (decimal string in 0 … 2^63-1), `type`, `ts`
 * (unix ms), `msg_id`. Optional fields default to null/""/false so that an older tracker's records still
 * go through.
 * @example parseQueueRecord('{"event_id":"1","type":"open","ts":1,"msg_id":"m"}').ok // true
 */
export function parseQueueRecord(body: string): ParsedRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (error) {
    return { ok: false, reason: `not JSON: ${(error as Error).message}` };
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return { ok: false, reason: "not a JSON object" };
  const r = raw as Record<string, unknown>;
  if (typeof r.event_id !== "string" || !/^\d{1,19}$/.test(r.event_id) || (r.event_id.length === 19 && BigInt(r.event_id) > maxEventId)) {
    return { ok: false, reason: `bad event_id ${JSON.stringify(r.event_id)}` };
  }
  if (typeof r.type !== "string" || !types.has(r.type)) return { ok: false, reason: `bad type ${JSON.stringify(r.type)}` };
  if (typeof r.ts !== "number" || !Number.isFinite(r.ts) || r.ts < 0) return { ok: false, reason: `bad ts ${JSON.stringify(r.ts)}` };
  if (typeof r.msg_id !== "string" || r.msg_id === "") return { ok: false, reason: `bad msg_id ${JSON.stringify(r.msg_id)}` };
  const optString = (v: unknown) => (typeof v === "string" ? v : null);
  return {
    ok: true,
    event: {
      event_id: r.event_id,
      type: r.type as EventType,
      ts: r.ts,
      msg_id: r.msg_id,
      rcpt: optString(r.rcpt),
      target_link_url: optString(r.target_link_url),
      link_name: optString(r.link_name),
      ip: optString(r.ip) ?? "",
      user_agent: optString(r.user_agent) ?? "",
      machine: r.machine === true,
      machine_reason: (optString(r.machine_reason) as MachineReason | null),
      first: r.first === true,
    },
  };
}
