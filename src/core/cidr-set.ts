/**
 * @module Address parsing and CIDR sets: canonical text for an address, and fast membership tests over
 * lists that may hold hundreds of thousands of prefixes (Apple's published relay egress list is that big).
 */
import ipaddr from "ipaddr.js";

/** A parsed address: IPv4 as a 32-bit number, IPv6 as a 128-bit bigint. IPv4-mapped IPv6 counts as IPv4. */
export type ParsedAddress = { readonly v: 4; readonly n: number; readonly text: string } | { readonly v: 6; readonly n: bigint; readonly text: string };

/**
 * Parses an IPv4 (dotted quad only) or IPv6 address, without brackets or port; null when it is not one.
 * The `text` is canonical: IPv6 compressed, IPv4-mapped IPv6 shown as plain IPv4 (as Go's net.ParseIP did).
 *
 * @example
 * parseAddress("::ffff:1.2.3.4")?.text; // "1.2.3.4"
 */
export function parseAddress(input: string): ParsedAddress | null {
  const s = input.trim();
  if (s.length === 0 || s.length > 64) return null;
  if (s.includes(":")) {
    const zoneless = s.includes("%") ? s.slice(0, s.indexOf("%")) : s;
    if (!ipaddr.IPv6.isValid(zoneless)) return null;
    const v6 = ipaddr.IPv6.parse(zoneless);
    if (v6.isIPv4MappedAddress()) return fromV4(v6.toIPv4Address().octets);
    let n = 0n;
    for (const part of v6.parts) n = (n << 16n) | BigInt(part);
    return { v: 6, n, text: v6.toRFC5952String() };
  }
  // Strict dotted quad: ipaddr.parse would also take "1.2.3" or "0x7f.1", which no proxy ever sends.
  if (!ipaddr.IPv4.isValidFourPartDecimal(s)) return null;
  return fromV4(ipaddr.IPv4.parse(s).octets);
}

function fromV4(octets: readonly number[]): ParsedAddress {
  const n = ((octets[0]! << 24) >>> 0) + (octets[1]! << 16) + (octets[2]! << 8) + octets[3]!;
  return { v: 4, n, text: octets.join(".") };
}

/** Named groups accepted wherever a CIDR list is: `loopback`, `private`, `linklocal`. */
const namedRanges: Record<string, readonly string[]> = {
  loopback: ["127.0.0.0/8", "::1/128"],
  private: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
  linklocal: ["169.254.0.0/16", "fe80::/10"],
};

/** An immutable set of address ranges. Membership is a binary search over merged intervals. */
export interface CidrSet {
  has(address: ParsedAddress): boolean;
  /** How many prefixes went in (before merging). */
  readonly size: number;
}

/**
 * Builds a set from CIDR strings (`10.0.0.0/8`, `2001:db8::/32`), bare addresses (a /32 or /128), or the
 * names `loopback`, `private`, `linklocal`.
 *
 * @throws {RangeError} naming the first entry that is none of these.
 * @example
 * createCidrSet(["loopback", "10.0.0.0/8"]).has(parseAddress("10.1.2.3")!); // true
 */
export function createCidrSet(specs: Iterable<string>): CidrSet {
  const v4: [number, number][] = [];
  const v6: [bigint, bigint][] = [];
  let size = 0;
  const add = (spec: string) => {
    const named = namedRanges[spec.toLowerCase()];
    if (named) {
      named.forEach(add);
      return;
    }
    const slash = spec.indexOf("/");
    const addr = parseAddress(slash < 0 ? spec : spec.slice(0, slash));
    const bitsText = slash < 0 ? null : spec.slice(slash + 1);
    const max = addr?.v === 4 ? 32 : 128;
    const bits = bitsText === null ? max : /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
    if (!addr || !(bits >= 0 && bits <= max)) {
      throw new RangeError(`Cannot parse address range "${spec}": expected a CIDR such as 10.0.0.0/8 or 2001:db8::/32, an address, or one of ${Object.keys(namedRanges).join(", ")}`);
    }
    size++;
    // An IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) lands in the IPv4 table, as its addresses do.
    const v4Bits = addr.v === 4 && spec.includes(":") ? Math.max(0, bits - 96) : bits;
    if (addr.v === 4) {
      const span = 2 ** (32 - v4Bits);
      const start = Math.floor(addr.n / span) * span;
      v4.push([start, start + span - 1]);
    } else {
      const span = 1n << BigInt(128 - bits);
      const start = (addr.n / span) * span;
      v6.push([start, start + span - 1n]);
    }
  };
  for (const raw of specs) {
    const spec = raw.trim();
    if (spec) add(spec);
  }
  const starts4 = merge(v4);
  const starts6 = merge(v6);
  return {
    size,
    has(address) {
      return address.v === 4 ? within(starts4, address.n) : within(starts6, address.n);
    },
  };
}

function merge<T extends number | bigint>(ranges: [T, T][]): [T, T][] {
  ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [T, T][] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    // Adjacent or overlapping intervals merge; `+ 1` keeps the type (number or bigint) of the operands.
    if (last && r[0] <= (typeof last[1] === "bigint" ? (last[1] as bigint) + 1n : (last[1] as number) + 1)) {
      if (r[1] > last[1]) last[1] = r[1];
    } else out.push([r[0], r[1]]);
  }
  return out;
}

function within<T extends number | bigint>(ranges: readonly [T, T][], n: T): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const r = ranges[mid]!;
    if (n < r[0]) hi = mid - 1;
    else if (n > r[1]) lo = mid + 1;
    else return true;
  }
  return false;
}
