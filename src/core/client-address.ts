/**
 * @module The client's address behind proxies: `X-Real-IP`, `Forwarded` (RFC 7239) and `X-Forwarded-For`
 * are believed only when the socket peer is a trusted proxy; plus privacy truncation (/24, /48).
 */
import { parseAddress, type CidrSet, type ParsedAddress } from "./cidr-set.ts";

/** The request headers the resolver reads; `Headers` satisfies it. */
export interface HeaderSource {
  get(name: string): string | null;
}

export interface ClientAddressOptions {
  /** Proxies whose headers are believed (e.g. `createCidrSet(["loopback"])`). */
  trusted: CidrSet;
}

/** The resolved client address and where it came from (for debug logs and tests). */
export interface ClientAddress {
  address: ParsedAddress;
  source: "socket" | "x-real-ip" | "forwarded" | "x-forwarded-for";
}

/**
 * Picks the client address for one request (`peer` as text, or already parsed). Headers count only when the socket peer is trusted; then
 * `X-Real-IP` (what nginx sets) wins, else the `Forwarded` or `X-Forwarded-For` chain is walked from the
 * right, skipping trusted hops, and the first untrusted hop is the client (a client can prepend anything
 * it likes, so the left end is never believed while a trusted hop could have added it). A malformed value
 * from a trusted proxy falls back to the peer rather than failing the request: a click is never refused
 * for a proxy's mistake. Returns null only when the peer address itself is not an address (unix socket).
 *
 * @example
 * resolveClientAddress("127.0.0.1", new Headers({ "x-forwarded-for": "203.0.113.9, 10.0.0.2" }),
 *   { trusted: createCidrSet(["loopback", "10.0.0.0/8"]) })?.address.text; // "203.0.113.9"
 */
export function resolveClientAddress(peer: string | ParsedAddress, headers: HeaderSource, opts: ClientAddressOptions): ClientAddress | null {
  const socket = typeof peer === "string" ? parseAddress(peer) : peer;
  if (!socket) return null;
  if (!opts.trusted.has(socket)) return { address: socket, source: "socket" };

  const realIp = headers.get("x-real-ip");
  if (realIp !== null) {
    const address = parseAddress(stripPort(realIp.trim()));
    return address ? { address, source: "x-real-ip" } : { address: socket, source: "socket" };
  }
  const forwarded = headers.get("forwarded");
  if (forwarded !== null) {
    const address = walkChain(socket, forwardedFor(forwarded), opts.trusted);
    return { address, source: address === socket ? "socket" : "forwarded" };
  }
  const xff = headers.get("x-forwarded-for");
  if (xff !== null) {
    const address = walkChain(socket, xff.split(","), opts.trusted);
    return { address, source: address === socket ? "socket" : "x-forwarded-for" };
  }
  return { address: socket, source: "socket" };
}

/** Right to left: the first hop that is not trusted is the client; a malformed hop stops the walk. */
function walkChain(socket: ParsedAddress, hops: readonly string[], trusted: CidrSet): ParsedAddress {
  let candidate = socket;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = parseAddress(stripPort(unquote(hops[i]!.trim())));
    // "unknown", an obfuscated "_node" or garbage: we cannot see past it, so the last hop we could read
    // (a trusted proxy) is the best answer.
    if (!hop) return candidate;
    candidate = hop;
    if (!trusted.has(hop)) return hop;
  }
  return candidate;
}

/** The `for=` values of a `Forwarded` header, in order (RFC 7239 §4; elements are comma-separated). */
function forwardedFor(value: string): string[] {
  const out: string[] = [];
  for (const element of value.split(",")) {
    let found = "";
    for (const pair of element.split(";")) {
      const eq = pair.indexOf("=");
      if (eq > 0 && pair.slice(0, eq).trim().toLowerCase() === "for") found = pair.slice(eq + 1);
    }
    out.push(found);
  }
  return out;
}

function unquote(s: string): string {
  return s.length >= 2 && s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s;
}

/** `[2001:db8::1]:4711` → `2001:db8::1`; `192.0.2.1:80` → `192.0.2.1`; a bare IPv6 address is left alone. */
function stripPort(s: string): string {
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    return end > 0 ? s.slice(1, end) : s;
  }
  const colon = s.indexOf(":");
  return colon > 0 && colon === s.lastIndexOf(":") ? s.slice(0, colon) : s;
}

export interface TruncateOptions {
  /** Prefix length kept for IPv4 (e.g. 24); 32 keeps the whole address. */
  v4: number;
  /** Prefix length kept for IPv6 (e.g. 48); 128 keeps the whole address. */
  v6: number;
}

/**
 * Zeroes the host bits of an address for privacy, keeping the network part.
 *
 * @example
 * truncateAddress(parseAddress("203.0.113.77")!, { v4: 24, v6: 48 }); // "203.0.113.0"
 */
export function truncateAddress(address: ParsedAddress, opts: TruncateOptions): string {
  if (address.v === 4) {
    if (opts.v4 >= 32) return address.text;
    const n = opts.v4 <= 0 ? 0 : (address.n & (~0 << (32 - opts.v4))) >>> 0;
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  if (opts.v6 >= 128) return address.text;
  const keep = BigInt(Math.max(0, opts.v6));
  const n = (address.n >> (128n - keep)) << (128n - keep);
  const parts: string[] = [];
  for (let i = 7; i >= 0; i--) parts.push(((n >> BigInt(i * 16)) & 0xffffn).toString(16));
  return compressV6(parts);
}

/** RFC 5952 text: the longest run (of two or more) of zero groups becomes `::`. */
function compressV6(parts: string[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (parts[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && parts[j] === "0") j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return parts.join(":");
  return `${parts.slice(0, best).join(":")}::${parts.slice(best + bestLen).join(":")}`;
}

/**
 * Parses an `--ip-truncate` value: `none`, `24`, `24/48` (IPv4/IPv6) or `/48`.
 *
 * @throws {RangeError} for anything else.
 */
export function parseTruncation(spec: string): TruncateOptions | null {
  const s = spec.trim().toLowerCase();
  if (s === "" || s === "none" || s === "off") return null;
  const m = /^(\d{1,2})?(?:\/(\d{1,3}))?$/.exec(s);
  const v4 = m?.[1] === undefined ? 24 : Number(m[1]);
  const v6 = m?.[2] === undefined ? 48 : Number(m[2]);
  if (!m || (m[1] === undefined && m[2] === undefined) || v4 > 32 || v6 > 128) {
    throw new RangeError(`Cannot parse IP truncation "${spec}": expected none, 24, 24/48 or /48 (IPv4 prefix/IPv6 prefix)`);
  }
  return { v4, v6 };
}
