/** @module A {@link TrackingEvent} in the SparkPost Signals Ingest shape (reference §5.2, without the original's bugs). */
import { recipientOf, safeStringToInt, type Accounting } from "./accounting.ts";
import type { EventType, TrackingEvent } from "./event.ts";

/** The `msys.track_event` object; field order as the original sent it. */
export interface SparkPostTrackEvent {
  type: EventType;
  delv_method: "esmtp";
  event_id: string;
  ip_address: string;
  message_id: string;
  rcpt_to: string;
  /** Unix seconds, as a string (SparkPost's event format). */
  timestamp: string;
  /** "" for opens, as the original sent. */
  target_link_url: string;
  /** Clicks only, and only when the link carried a name (SparkPost's own click events have it too). */
  target_link_name?: string;
  user_agent: string;
  subaccount_id: number;
}

/** One NDJSON line of the ingest body. */
export interface SparkPostEvent {
  msys: { track_event: SparkPostTrackEvent };
}

/**
 * Maps an event and its accounting entry (null when acct-etl has none) to the ingest shape.
 * Unlike the original: no zero-valued `geo_ip`; `rcpt_to` falls back to the link's recipient; the
 * `event_id` is the tracker's, so a retried batch carries the same ids. The tracker's machine verdicts
 * are not sent: the ingest format has no field for them (the webhook and file sinks carry them).
 * @example toSparkPostEvent(event, { rcpt: "bob@example.com", "header_x-sp-subaccount-id": "3" }).msys.track_event.subaccount_id // 3
 */
export function toSparkPostEvent(event: TrackingEvent, accounting: Accounting | null): SparkPostEvent {
  const track: SparkPostTrackEvent = {
    type: event.type,
    delv_method: "esmtp",
    event_id: event.event_id,
    ip_address: event.ip,
    message_id: event.msg_id,
    rcpt_to: recipientOf(event.rcpt, accounting),
    timestamp: String(Math.floor(event.ts / 1000)),
    target_link_url: event.target_link_url ?? "",
    user_agent: event.user_agent,
    subaccount_id: safeStringToInt(accounting?.["header_x-sp-subaccount-id"]),
  };
  if (event.type === "click" && event.link_name) {
    // Insert before user_agent to keep the original's order for every field it had.
    const { user_agent, subaccount_id, ...head } = track;
    return { msys: { track_event: { ...head, target_link_name: event.link_name, user_agent, subaccount_id } } };
  }
  return { msys: { track_event: track } };
}
