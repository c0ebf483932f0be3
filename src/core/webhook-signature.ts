/** @module The webhook signature header: `X-Mtatrack-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`. */

/** The header the webhook sink signs with. */
export const signatureHeaderName = "X-Mtatrack-Signature";

/**
 * What the HMAC covers: the timestamp, a dot, then the exact request body (Stripe's scheme, so receivers
 * can reject replays by checking `t` against their clock).
 * @example signedPayload(1700000000, "[]") // "1700000000.[]"
 */
export function signedPayload(timestampSeconds: number, body: string): string {
  return `${timestampSeconds}.${body}`;
}

/** Formats the header value from the timestamp and the hex digest(s); more than one during a secret rotation. */
export function formatSignatureHeader(timestampSeconds: number, hexDigests: readonly string[]): string {
  return [`t=${timestampSeconds}`, ...hexDigests.map((d) => `v1=${d}`)].join(",");
}

/**
 * Parses a header value into its timestamp and v1 digests; null when it is not in the documented format.
 * @example parseSignatureHeader("t=1,v1=ab") // { timestamp: 1, v1: ["ab"] }
 */
export function parseSignatureHeader(value: string): { timestamp: number; v1: string[] } | null {
  let timestamp: number | null = null;
  const v1: string[] = [];
  for (const part of value.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) return null;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === "t" && /^\d+$/.test(v)) timestamp = Number(v);
    else if (k === "v1" && /^[0-9a-f]{64}$/i.test(v)) v1.push(v.toLowerCase());
  }
  return timestamp === null || v1.length === 0 ? null : { timestamp, v1 };
}
