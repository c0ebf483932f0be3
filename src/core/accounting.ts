/** @module The accounting entry acct-etl stores under `msgID_<msg_id>`, as the feeder reads it. */

/** Field name → value as acct-etl stored it (`rcpt`, `header_x-sp-subaccount-id` and any other --field column). */
export type Accounting = Readonly<Record<string, string>>;

/** The KV key acct-etl writes for a message, in the original's layout. */
export function accountingKey(msgId: string): string {
  return `msgID_${msgId}`;
}

/**
 * Parses a stored accounting value. A corrupt value is reported, not thrown: the event is still sent,
 * un-enriched, which is what the original did for a missing key (it failed the whole batch for a corrupt one).
 * @returns the fields (non-string values are dropped), null when `value` is null
 * @example parseAccounting('{"rcpt":"a@b.c","header_x-sp-subaccount-id":"3"}') // { ok: true, accounting: {…} }
 */
export function parseAccounting(value: string | null): { ok: true; accounting: Accounting | null } | { ok: false; reason: string } {
  if (value === null) return { ok: true, accounting: null };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    return { ok: false, reason: `not JSON: ${(error as Error).message}` };
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return { ok: false, reason: "not a JSON object" };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof v === "string") out[k] = v;
    else if (typeof v === "number" && Number.isFinite(v)) out[k] = String(v);
  }
  return { ok: true, accounting: out };
}

/**
 * The original's `SafeStringToInt`: a plain decimal integer, anything else 0.
 * @example safeStringToInt("0123456") // 123456
 */
export function safeStringToInt(value: string | undefined): number {
  if (value === undefined || !/^[+-]?\d+$/.test(value)) return 0;
  const n = Number.parseInt(value, 10);
  return Number.isSafeInteger(n) ? n : 0;
}

/** The recipient: the accounting entry's when it has one, else the one carried in the link, else "". */
export function recipientOf(linkRcpt: string | null, accounting: Accounting | null): string {
  const fromAcct = accounting?.rcpt;
  if (fromAcct !== undefined && fromAcct !== "") return fromAcct;
  return linkRcpt ?? "";
}
