/** @module What `linktool` prints and parses: pure helpers, so the command file stays thin. */
import { type DecodedLink, type DecodeResult, type LinkAction, type LinkFields, toV1Json } from "./link-codec.ts";

/** The original's linktool defaults (reference §2.6). */
export const LINKTOOL_DEFAULTS = Object.freeze({
  action: "open",
  messageId: "0000123456789abcdef0",
  rcptTo: "any@example.com",
  targetLinkUrl: "https://example.com",
  trackingUrl: "http://localhost:8888",
});

/** The encode flags as strings, after flag/env resolution. */
export interface EncodeInput {
  action: string;
  messageId: string;
  rcptTo: string;
  omitRcpt: boolean;
  targetLinkUrl: string;
  linkName?: string;
  expiresIn?: string;
  expiresAt?: string;
}

/**
 * Turns encode flags into link fields. The target applies to clicks only, as in the original.
 * @throws {RangeError} for an unknown action or a bad expiry.
 * @example encodeFields({ action: "open", messageId: "m", rcptTo: "", omitRcpt: false, targetLinkUrl: "" }, 0).rcpt // null
 */
export function encodeFields(input: EncodeInput, nowMs: number): LinkFields {
  if (input.action !== "open" && input.action !== "initial_open" && input.action !== "click") {
    throw new RangeError(`Invalid action "${input.action}": expected open, initial_open or click`);
  }
  const action: LinkAction = input.action;
  return {
    action,
    msgId: input.messageId,
    rcpt: input.omitRcpt || input.rcptTo === "" ? null : input.rcptTo,
    targetUrl: action === "click" ? input.targetLinkUrl : null,
    linkName: input.linkName ? input.linkName : null,
    expiresAt: parseExpiry(input.expiresIn, input.expiresAt, nowMs),
  };
}

const DURATION = /^(\d{1,10})([smhdw]?)$/;
const UNIT_SECONDS: Record<string, number> = { "": 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * `expiresIn` is a duration (`3600`, `90m`, `12h`, `30d`, `2w`), `expiresAt` unix seconds; at most one of them.
 * @throws {RangeError} when both are given or either does not parse.
 * @example parseExpiry("1h", undefined, 0) // 3600
 */
export function parseExpiry(expiresIn: string | undefined, expiresAt: string | undefined, nowMs: number): number | null {
  if (expiresIn && expiresAt) throw new RangeError("Give --expires-in or --expires-at, not both");
  if (expiresAt) {
    if (!/^\d{1,15}$/.test(expiresAt)) throw new RangeError(`--expires-at "${expiresAt}" is not unix seconds`);
    return Number(expiresAt);
  }
  if (!expiresIn) return null;
  const match = DURATION.exec(expiresIn);
  if (!match) throw new RangeError(`--expires-in "${expiresIn}" is not a duration like 3600, 90m, 12h, 30d or 2w`);
  return Math.floor(nowMs / 1000) + Number(match[1]) * UNIT_SECONDS[match[2]!]!;
}

/**
 * Splits what the user pasted into the tracking base and the token: a full tracked URL (the token is its last
 * path segment, percent-decoded) or a bare token.
 * @throws {RangeError} when a URL has no token segment.
 * @example splitTrackedUrl("https://t.example.com/p/eJx=") // { trackingUrl: "https://t.example.com/p", token: "eJx=" }
 */
export function splitTrackedUrl(input: string): { trackingUrl: string | null; token: string } {
  const text = input.trim();
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text)) return { trackingUrl: null, token: text };
  let url: URL;
  try {
    url = new URL(text);
  } catch (cause) {
    throw new RangeError(`"${text.slice(0, 80)}" is not a URL`, { cause });
  }
  const slash = url.pathname.lastIndexOf("/");
  const segment = url.pathname.slice(slash + 1);
  if (segment === "") throw new RangeError(`URL "${text.slice(0, 80)}" has no link token in its path`);
  let token = segment;
  try {
    token = decodeURIComponent(segment);
  } catch {
    // keep the raw segment: the decoder will say what is wrong with it
  }
  return { trackingUrl: `${url.origin}${url.pathname.slice(0, slash)}`, token };
}

/** The JSON line of `decode`: v1 exactly as the original stores it, v2 the same keys plus its own. */
export function linkJson(link: DecodedLink): string {
  if (link.format === "v1") return toV1Json(link);
  const v1 = JSON.parse(toV1Json(link)) as Record<string, string>;
  return JSON.stringify({ ...v1, rcpt: link.rcpt, link_name: link.linkName, expires_at: link.expiresAt, kid: link.kid });
}

/**
 * The `encode` command that makes an equivalent link, in the original's flag spelling (plus `-format`).
 * Values are single-quoted when a shell would otherwise split or expand them.
 */
export function equivalentEncodeCommand(link: DecodedLink, trackingUrl: string | null): string {
  const parts = ["encode"];
  if (trackingUrl !== null) parts.push("-tracking_url", shellQuote(trackingUrl));
  if (link.rcpt === null && link.format === "v2") parts.push("-omit_rcpt");
  else parts.push("-rcpt_to", shellQuote(link.rcpt ?? ""));
  parts.push("-action", link.action);
  if (link.action === "click") parts.push("-target_link_url", shellQuote(link.targetUrl ?? ""));
  parts.push("-message_id", shellQuote(link.msgId), "-format", link.format);
  if (link.linkName !== null) parts.push("-link_name", shellQuote(link.linkName));
  if (link.expiresAt !== null) parts.push("-expires_at", String(link.expiresAt));
  return `Equivalent to ${parts.join(" ")}`;
}

/** The verdict line of `verify`, and whether it counts as valid. */
export function verifyVerdict(result: DecodeResult, detail: DecodeResult | null): { valid: boolean; line: string } {
  if (result.ok) {
    const { link } = result;
    if (link.format === "v1") return { valid: false, line: "invalid: v1 link, which carries no signature" };
    const expiry = link.expiresAt === null ? "never expires" : `not expired (expires ${new Date(link.expiresAt * 1000).toISOString()})`;
    return { valid: true, line: `valid: key id ${link.kid}, ${link.action}, ${expiry}` };
  }
  if (result.reason === "expired" && detail?.ok) {
    const { link } = detail;
    return { valid: false, line: `expired: key id ${link.kid}, signature valid, expired ${new Date((link.expiresAt ?? 0) * 1000).toISOString()}` };
  }
  return { valid: false, line: `invalid: ${result.reason}: ${result.message}` };
}

function shellQuote(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
