/**
 * @module Which links the wrapper tracks: the pure decision for one href (or one plain-text URL), the
 * per-link opt-out attributes users migrate from, unsubscribe detection and the link name.
 *
 * The original wrapped every href (reference §10 item 9); peers skip non-web and relative links and honour
 * per-link opt-outs (peers.md §3.7, §3.11). Decisions are values, never exceptions.
 */

/** Why a link was left alone. */
export type SkipReason =
  | "empty"
  | "fragment" // "#top"
  | "relative" // no scheme, including "//host/path"
  | "scheme" // mailto:, tel:, sms:, javascript:, data:, ftp:, …
  | "invalid" // http(s) that does not parse as a URL
  | "tracking-domain" // already points at the tracker
  | "unsubscribe" // a List-Unsubscribe target, marked as unsubscribe, or an unsubscribe-looking URL
  | "opt-out" // an opt-out attribute
  | "too-long"; // longer than maxTargetLength

/** The decision for one link. `target` is what the tracked link redirects to. */
export type HrefDecision =
  | { track: true; target: string; linkName: string | null }
  | { track: false; reason: SkipReason; /** replacement value, e.g. "+notrack" stripped */ rewriteTo?: string };

/** What the policy needs to know about the message and the operator. */
export interface HrefPolicyContext {
  /** Host (hostname[:port], lower-case) of the tracking URL. */
  trackingHost: string;
  /** Normalised (URL.href) http(s) targets of the message's List-Unsubscribe header. */
  unsubscribeTargets: ReadonlySet<string>;
  /** Longest target tracked, in characters. @default 2048 */
  maxTargetLength?: number;
  /**
   * Memo of the URL parse for {@link decideHref}, shared across messages (see {@link createUrlMemo}):
   * newsletters repeat their links within a message and across a campaign. @default none (parse every time)
   */
  urlMemo?: UrlMemo;
}

/** What {@link decideHref} reads from a parsed http(s) href; null when it does not parse. */
export interface ParsedTarget {
  /** `URL.host`. */
  readonly host: string;
  /** `URL.href`. */
  readonly href: string;
  /** Whether the path or the query looks like an unsubscribe link. */
  readonly unsubscribeWord: boolean;
}

/** A bounded memo: cleaned href → its parse. */
export interface UrlMemo {
  get(value: string): ParsedTarget | null | undefined;
  set(value: string, parsed: ParsedTarget | null): void;
}

/**
 * A memo of at most `maxEntries` hrefs, emptied when full. The parse is a pure function of the href, so a
 * hit gives exactly the decision a fresh parse would.
 * @example decideHref(href, attrs, { trackingHost, unsubscribeTargets, urlMemo: createUrlMemo() })
 */
export function createUrlMemo({ maxEntries = 4096 }: { maxEntries?: number } = {}): UrlMemo {
  const map = new Map<string, ParsedTarget | null>();
  return {
    get: (value) => map.get(value),
    set(value, parsed) {
      if (map.size >= maxEntries) map.clear();
      map.set(value, parsed);
    },
  };
}

function parseTarget(value: string): ParsedTarget | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  return { host: url.host, href: url.href, unsubscribeWord: UNSUBSCRIBE_WORD.test(url.pathname) || UNSUBSCRIBE_WORD.test(url.search) };
}

/**
 * Attributes that opt a link out of tracking, and are removed from the output whatever their value
 * (they are instructions to a tracker, not to a mail client). Names are lower-case as the tokenizer gives them.
 */
export const CONTROL_ATTRIBUTES: ReadonlySet<string> = new Set([
  "data-no-track", // Kannon; presence
  "data-msys-clicktrack", // SparkPost; "0" opts out
  "clicktracking", // SendGrid; "off" opts out
  "ses:no-track", // Amazon SES; presence
  "data-mautic-disable-tracking", // Mautic; presence (Mautic writes ="true")
  "data-msys-unsubscribe", // SparkPost's unsubscribe marker; "1" marks the link
  "data-unsubscribe", // generic unsubscribe marker; presence
]);

/** Attributes whose value names the link in events, in order of preference. Kept in the output. */
export const LINK_NAME_ATTRIBUTES = ["data-link-name", "data-msys-linkname"] as const;

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):/;
// A URL parser drops every tab and newline inside (and leading/trailing C0 controls and spaces, see cleanHref).
const TAB_NEWLINE = /[\t\n\r]/g;
const UNSUBSCRIBE_WORD = /unsubscribe|opt[-_]?out/i;
const MAX_LINK_NAME = 128;

/** What a URL parser reads: without leading/trailing C0 controls and spaces, and without tabs and newlines. */
function cleanHref(href: string): string {
  let start = 0;
  let end = href.length;
  while (start < end && href.charCodeAt(start) <= 0x20) start++;
  while (end > start && href.charCodeAt(end - 1) <= 0x20) end--;
  const value = start > 0 || end < href.length ? href.slice(start, end) : href;
  // checked first: the regex replace costs more than three scans on the usual href without any
  return value.includes("\t") || value.includes("\n") || value.includes("\r") ? value.replace(TAB_NEWLINE, "") : value;
}

/**
 * Is this link opted out by one of its attributes? `attrs` maps lower-case names to decoded values.
 * @example optedOut(new Map([["data-msys-clicktrack", "0"]])) // true
 */
export function optedOut(attrs: ReadonlyMap<string, string>): boolean {
  if (attrs.has("data-no-track") || attrs.has("ses:no-track")) return true;
  const mautic = attrs.get("data-mautic-disable-tracking");
  if (mautic !== undefined && !/^(false|0|no)$/i.test(mautic.trim())) return true;
  const msys = attrs.get("data-msys-clicktrack");
  if (msys !== undefined && /^(0|false|off|no)$/i.test(msys.trim())) return true;
  const sendgrid = attrs.get("clicktracking");
  if (sendgrid !== undefined && /^(off|false|0|no)$/i.test(sendgrid.trim())) return true;
  return false;
}

/** Is the link marked as an unsubscribe link by its attributes (`rel`, SparkPost's marker, `data-unsubscribe`)? */
export function markedUnsubscribe(attrs: ReadonlyMap<string, string>): boolean {
  if (attrs.has("data-unsubscribe")) return true;
  const msys = attrs.get("data-msys-unsubscribe");
  if (msys !== undefined && !/^(0|false|no)$/i.test(msys.trim())) return true;
  const rel = attrs.get("rel");
  return rel !== undefined && /(^|\s)unsubscribe(\s|$)/i.test(rel);
}

/** The link name for events: `data-link-name`, else `data-msys-linkname`, trimmed and capped; null when absent. */
export function linkNameOf(attrs: ReadonlyMap<string, string>): string | null {
  for (const name of LINK_NAME_ATTRIBUTES) {
    const value = attrs.get(name)?.trim();
    if (value) return value.slice(0, MAX_LINK_NAME);
  }
  return null;
}

/**
 * Decides one entity-decoded href. `attrs` are the tag's attributes (lower-case names, decoded values);
 * pass an empty map for plain-text URLs.
 * @example
 * decideHref("https://shop.example/?a=1&b=2", new Map(), ctx) // { track: true, target: "https://shop.example/?a=1&b=2", linkName: null }
 * decideHref("mailto:x@example.com", new Map(), ctx)          // { track: false, reason: "scheme" }
 */
export function decideHref(href: string, attrs: ReadonlyMap<string, string>, ctx: HrefPolicyContext): HrefDecision {
  const value = cleanHref(href);
  // Postal's per-link opt-out: "https+notrack://…" is sent as "https://…" and not tracked.
  const plus = value.charCodeAt(4) === 43 || value.charCodeAt(5) === 43; // "http+" / "https+": the regex only then
  const notrack = plus ? /^(https?)\+notrack:/i.exec(value) : null;
  if (notrack) return { track: false, reason: "opt-out", rewriteTo: notrack[1] + value.slice(notrack[0].length - 1) };
  if (attrs.size > 0 && optedOut(attrs)) return { track: false, reason: "opt-out" };
  if (value === "") return { track: false, reason: "empty" };
  if (value.startsWith("#")) return { track: false, reason: "fragment" };
  // the usual lower-case "https:"/"http:" is what the regex would find, without its match array
  if (!value.startsWith("https:") && !value.startsWith("http:")) {
    const scheme = SCHEME.exec(value);
    if (!scheme) return { track: false, reason: "relative" };
    const lower = scheme[1]!.toLowerCase();
    if (lower !== "http" && lower !== "https") return { track: false, reason: "scheme" };
  }
  if (value.length > (ctx.maxTargetLength ?? 2048)) return { track: false, reason: "too-long" };
  const memo = ctx.urlMemo;
  let url = memo?.get(value);
  if (url === undefined) {
    url = parseTarget(value);
    memo?.set(value, url);
  }
  if (url === null) return { track: false, reason: "invalid" };
  if (url.host === ctx.trackingHost) return { track: false, reason: "tracking-domain" };
  if (
    (attrs.size > 0 && markedUnsubscribe(attrs)) ||
    (ctx.unsubscribeTargets.size > 0 && ctx.unsubscribeTargets.has(url.href)) ||
    url.unsubscribeWord
  ) {
    return { track: false, reason: "unsubscribe" };
  }
  return { track: true, target: value, linkName: linkNameOf(attrs) };
}

/**
 * The http(s) targets of `List-Unsubscribe` header values (RFC 2369: `<uri>` list), normalised with URL.href.
 * @example listUnsubscribeTargets(["<mailto:u@x>, <https://x.example/u?id=1>"]) // Set { "https://x.example/u?id=1" }
 */
export function listUnsubscribeTargets(values: readonly string[]): Set<string> {
  const targets = new Set<string>();
  for (const value of values) {
    for (const match of value.matchAll(/<([^>]*)>/g)) {
      const uri = match[1]!.replace(/\s+/g, "");
      if (!/^https?:/i.test(uri)) continue;
      try {
        targets.add(new URL(uri).href);
      } catch {
        // not a URL: nothing to protect
      }
    }
  }
  return targets;
}

/** The host the tracking URL points at, as {@link HrefPolicyContext.trackingHost} expects. */
export function trackingHostOf(trackingUrl: string): string {
  try {
    return new URL(trackingUrl).host;
  } catch {
    return "";
  }
}
