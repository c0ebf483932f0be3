/** @module A {@link TrackingEvent} as the webhook and file sinks deliver it: everything the tracker knew, enriched. */
import { recipientOf, safeStringToInt, type Accounting } from "./accounting.ts";
import type { EventType, MachineReason, TrackingEvent } from "./event.ts";

/** The documented webhook/file event (docs/feeder.md). */
export interface WebhookEvent {
  event_id: string;
  type: EventType;
  /** ISO 8601 UTC, millisecond precision. */
  timestamp: string;
  message_id: string;
  /** From the accounting entry, else the link; "" when neither has one. */
  rcpt_to: string;
  /** From `header_x-sp-subaccount-id`; null when there is no accounting entry. */
  subaccount_id: number | null;
  target_link_url: string | null;
  target_link_name: string | null;
  ip_address: string;
  user_agent: string;
  machine: boolean;
  machine_reason: MachineReason | null;
  first: boolean;
  /** The whole accounting entry acct-etl stored (every --field column), or null when there was none. */
  accounting: Accounting | null;
}

/**
 * Maps an event and its accounting entry to the webhook/file shape.
 * @example toWebhookEvent(event, null).rcpt_to // the link's recipient, or ""
 */
export function toWebhookEvent(event: TrackingEvent, accounting: Accounting | null): WebhookEvent {
  return {
    event_id: event.event_id,
    type: event.type,
    timestamp: new Date(event.ts).toISOString(),
    message_id: event.msg_id,
    rcpt_to: recipientOf(event.rcpt, accounting),
    subaccount_id: accounting ? safeStringToInt(accounting["header_x-sp-subaccount-id"]) : null,
    target_link_url: event.target_link_url,
    target_link_name: event.link_name,
    ip_address: event.ip,
    user_agent: event.user_agent,
    machine: event.machine,
    machine_reason: event.machine_reason,
    first: event.first,
    accounting,
  };
}
