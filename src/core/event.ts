/** @module The event the tracker queues for every hit; every sink's shape is derived from it by the feeder. */

export type EventType = "open" | "initial_open" | "click";

/** Why the tracker believes a machine, not a person, made the hit. */
export type MachineReason =
  | "apple-mpp"
  | "google-proxy"
  | "yahoo-proxy"
  | "microsoft-safelinks"
  | "security-scanner"
  | "bot-user-agent"
  | "head-request"
  | "fast-click";

/** One JSON record per hit (DESIGN.md "Events"), serialised with `JSON.stringify` into the queue. */
export interface TrackingEvent {
  /** Decimal string in 0 … 2^63-1 (SparkPost's `event_id` range), assigned once at the tracker. */
  event_id: string;
  type: EventType;
  /** Unix time of the hit in milliseconds. */
  ts: number;
  msg_id: string;
  /** The recipient carried in the link, null when the link leaves it out. */
  rcpt: string | null;
  /** The click target; null for opens. */
  target_link_url: string | null;
  /** `data-link-name` of the tracked link, when the sender gave one. */
  link_name: string | null;
  ip: string;
  user_agent: string;
  machine: boolean;
  machine_reason: MachineReason | null;
  /** First open (open or initial_open) or first click of this message. */
  first: boolean;
}
