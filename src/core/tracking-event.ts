/**
 * @module Building the {@link TrackingEvent} of one hit, and its `event_id`: a random decimal in
 * 0 … 2^63-1, SparkPost's range, from injected random bytes.
 */
import type { DecodedLink } from "./link-codec.ts";
import type { TrackingEvent } from "./event.ts";
import type { MachineVerdict } from "./machine-verdict.ts";

/** Longest user agent kept in an event; real ones are a few hundred characters. */
export const MAX_USER_AGENT_CHARS = 1024;

/**
 * An event id from 8 random bytes: the top bit is cleared, so the value fits a signed 64-bit integer.
 *
 * @throws {RangeError} when fewer than 8 bytes are given.
 * @example
 * eventIdFromBytes(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])); // "9223372036854775807"
 */
export function eventIdFromBytes(bytes: Uint8Array, offset = 0): string {
  if (bytes.length < offset + 8) throw new RangeError(`Cannot make an event id: need 8 random bytes, got ${bytes.length - offset}`);
  // value = hi·2^32 + lo, written in decimal without a bigint (a fifth of the cost): hi split as h1·2^16 + h0,
  // the value is h1·2^48 + h0·2^32 + lo, and each power of two's quotient and remainder by 1e9 are constants,
  // so every partial sum below stays under 2^53 and is exact.
  const hi = ((bytes[offset]! & 0x7f) << 24 | bytes[offset + 1]! << 16 | bytes[offset + 2]! << 8 | bytes[offset + 3]!) >>> 0;
  const lo = (bytes[offset + 4]! << 24 | bytes[offset + 5]! << 16 | bytes[offset + 6]! << 8 | bytes[offset + 7]!) >>> 0;
  const h1 = hi >>> 16;
  const h0 = hi & 0xffff;
  // 2^48 = 281474·1e9 + 976710656 and 2^32 = 4·1e9 + 294967296.
  const low = h1 * 976_710_656 + h0 * 294_967_296 + lo; // < 2^15·1e9 + 2^16·3e8 + 2^32 < 2^46
  const below = low % 1e9;
  const above = h1 * 281_474 + h0 * 4 + (low - below) / 1e9; // < 2^63 / 1e9 < 1e10
  if (above === 0) return String(below);
  // Written in pieces under 2^31, which the engine formats as integers (a larger one goes through its
  // double formatting), each padded to 9 digits by adding 1e9 and dropping the leading 1: 0.09 µs less per id.
  const mid = above % 1e9;
  const top = (above - mid) / 1e9; // 0-9
  const tail = String(below + 1e9).slice(1);
  return top === 0 ? String(mid) + tail : String(top) + String(mid + 1e9).slice(1) + tail;
}

export interface HitRecord {
  /** Unix milliseconds. */
  ts: number;
  /** As it goes into the event: possibly truncated for privacy. */
  ip: string;
  userAgent: string;
}

/**
 * The event for one hit on a decoded link.
 *
 * @example
 * buildTrackingEvent(link, { ts: 1700000000000, ip: "203.0.113.0", userAgent: "Mozilla/5.0 …" },
 *   { eventId: "42", verdict: { machine: false, reason: null }, first: true });
 */
export function buildTrackingEvent(
  link: DecodedLink,
  hit: HitRecord,
  opts: { eventId: string; verdict: MachineVerdict; first: boolean },
): TrackingEvent {
  return {
    event_id: opts.eventId,
    type: link.action,
    ts: hit.ts,
    msg_id: link.msgId,
    rcpt: link.rcpt,
    target_link_url: link.action === "click" ? link.targetUrl : null,
    link_name: link.linkName ?? null,
    ip: hit.ip,
    user_agent: hit.userAgent.length > MAX_USER_AGENT_CHARS ? hit.userAgent.slice(0, MAX_USER_AGENT_CHARS) : hit.userAgent,
    machine: opts.verdict.machine,
    machine_reason: opts.verdict.reason,
    first: opts.first,
  };
}

/** The KV key of a message's first-open or first-click flag (CONTRACTS.md "Stores"). */
export function firstFlagKey(action: TrackingEvent["type"], msgId: string): string {
  return action === "click" ? `first:click:${msgId}` : `first:open:${msgId}`;
}

/** The KV key holding the time (unix ms) of a message's first event, for the fast-click rule. */
export function firstEventTimeKey(msgId: string): string {
  return `first:at:${msgId}`;
}
