import { describe, expect, test } from "bun:test";
import { createCidrSet, parseAddress } from "../../src/core/cidr-set.ts";
import { parseTruncation, resolveClientAddress, truncateAddress } from "../../src/core/client-address.ts";

describe("parseAddress()", () => {
  test.each([
    { name: "IPv4", input: "203.0.113.7", text: "203.0.113.7" },
    { name: "IPv6 is compressed", input: "2001:0db8:0000:0000:0000:0000:0000:0001", text: "2001:db8::1" },
    { name: "IPv4-mapped IPv6 becomes IPv4", input: "::ffff:192.0.2.1", text: "192.0.2.1" },
    { name: "surrounding space is ignored", input: " 10.0.0.1 ", text: "10.0.0.1" },
    { name: "a three-part IPv4 is refused", input: "1.2.3", text: null },
    { name: "hex IPv4 is refused", input: "0x7f.0.0.1", text: null },
    { name: "a word is refused", input: "banana", text: null },
    { name: "empty is refused", input: "", text: null },
  ])("$name", ({ input, text }) => {
    expect(parseAddress(input)?.text ?? null).toBe(text);
  });
});

describe("createCidrSet()", () => {
  const set = createCidrSet(["10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32", "loopback", "198.51.100.7"]);
  test.each([
    { name: "inside a /8", ip: "10.255.0.1", inside: true },
    { name: "just outside a /24", ip: "192.168.2.1", inside: false },
    { name: "IPv6 inside a /32", ip: "2001:db8:ffff::1", inside: true },
    { name: "IPv6 outside", ip: "2001:db9::1", inside: false },
    { name: "loopback v4 by name", ip: "127.1.2.3", inside: true },
    { name: "loopback v6 by name", ip: "::1", inside: true },
    { name: "a bare address is a /32", ip: "198.51.100.7", inside: true },
    { name: "its neighbour is not", ip: "198.51.100.8", inside: false },
    { name: "IPv4-mapped IPv6 matches the IPv4 range", ip: "::ffff:10.1.1.1", inside: true },
  ])("$name", ({ ip, inside }) => {
    expect(set.has(parseAddress(ip)!)).toBe(inside);
  });

  test("createCidrSet() throws a RangeError naming a bad entry", () => {
    expect(() => createCidrSet(["10.0.0.0/33"])).toThrow(RangeError);
    expect(() => createCidrSet(["nonsense"])).toThrow(/"nonsense"/);
  });

  test("createCidrSet() stays fast and correct with 100,000 prefixes", () => {
    const specs = Array.from({ length: 100_000 }, (_, i) => `100.${(i >> 8) & 255}.${i & 255}.0/28`);
    const big = createCidrSet(specs);
    expect(big.size).toBe(100_000);
    expect(big.has(parseAddress("100.1.2.5")!)).toBe(true);
    expect(big.has(parseAddress("100.1.2.17")!)).toBe(false);
  });
});

describe("resolveClientAddress()", () => {
  const trusted = createCidrSet(["loopback", "10.0.0.0/8"]);
  const resolve = (peer: string, headers: Record<string, string>) => resolveClientAddress(peer, new Headers(headers), { trusted });
  test.each([
    { name: "no headers: the socket peer", peer: "203.0.113.5", headers: {}, ip: "203.0.113.5", source: "socket" },
    { name: "X-Real-IP from an untrusted peer is ignored", peer: "203.0.113.5", headers: { "x-real-ip": "1.2.3.4" }, ip: "203.0.113.5", source: "socket" },
    { name: "X-Forwarded-For from an untrusted peer is ignored", peer: "203.0.113.5", headers: { "x-forwarded-for": "1.2.3.4" }, ip: "203.0.113.5", source: "socket" },
    { name: "X-Real-IP from a trusted peer is believed", peer: "127.0.0.1", headers: { "x-real-ip": "1.2.3.4" }, ip: "1.2.3.4", source: "x-real-ip" },
    { name: "X-Real-IP wins over X-Forwarded-For", peer: "127.0.0.1", headers: { "x-real-ip": "1.2.3.4", "x-forwarded-for": "5.6.7.8" }, ip: "1.2.3.4", source: "x-real-ip" },
    { name: "a malformed X-Real-IP falls back to the peer (the original answered 400)", peer: "127.0.0.1", headers: { "x-real-ip": "banana" }, ip: "127.0.0.1", source: "socket" },
    { name: "X-Forwarded-For: the rightmost untrusted hop", peer: "127.0.0.1", headers: { "x-forwarded-for": "6.6.6.6, 198.51.100.9, 10.0.0.2" }, ip: "198.51.100.9", source: "x-forwarded-for" },
    { name: "X-Forwarded-For: a spoofed left end is not believed", peer: "10.0.0.1", headers: { "x-forwarded-for": "1.1.1.1, 203.0.113.50" }, ip: "203.0.113.50", source: "x-forwarded-for" },
    { name: "X-Forwarded-For: all trusted gives the leftmost", peer: "127.0.0.1", headers: { "x-forwarded-for": "10.0.0.9, 10.0.0.2" }, ip: "10.0.0.9", source: "x-forwarded-for" },
    { name: "X-Forwarded-For: garbage stops the walk at the last readable hop", peer: "127.0.0.1", headers: { "x-forwarded-for": "1.1.1.1, garbage, 10.0.0.3" }, ip: "10.0.0.3", source: "x-forwarded-for" },
    { name: "X-Forwarded-For with a port", peer: "127.0.0.1", headers: { "x-forwarded-for": "198.51.100.9:5555" }, ip: "198.51.100.9", source: "x-forwarded-for" },
    { name: "Forwarded (RFC 7239) with quoted IPv6 and port", peer: "127.0.0.1", headers: { forwarded: 'for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.2' }, ip: "2001:db8:cafe::17", source: "forwarded" },
    { name: "Forwarded wins over X-Forwarded-For", peer: "127.0.0.1", headers: { forwarded: "for=192.0.2.60;proto=http;by=203.0.113.43", "x-forwarded-for": "5.6.7.8" }, ip: "192.0.2.60", source: "forwarded" },
    { name: "Forwarded for=unknown falls back to the peer", peer: "127.0.0.1", headers: { forwarded: "for=unknown" }, ip: "127.0.0.1", source: "socket" },
    { name: "an IPv4-mapped peer is trusted as IPv4 loopback", peer: "::ffff:127.0.0.1", headers: { "x-real-ip": "2001:db8::5" }, ip: "2001:db8::5", source: "x-real-ip" },
  ])("$name", ({ peer, headers, ip, source }) => {
    const got = resolve(peer, headers as Record<string, string>);
    expect(got?.address.text).toBe(ip);
    expect(got?.source).toBe(source as "socket");
  });

  test("resolveClientAddress() returns null for a peer that is not an address", () => {
    expect(resolve("", {})).toBeNull();
  });
});

describe("truncateAddress()", () => {
  test.each([
    { name: "IPv4 to /24", ip: "203.0.113.77", opts: { v4: 24, v6: 48 }, out: "203.0.113.0" },
    { name: "IPv4 to /16", ip: "203.0.113.77", opts: { v4: 16, v6: 48 }, out: "203.0.0.0" },
    { name: "IPv4 kept whole at /32", ip: "203.0.113.77", opts: { v4: 32, v6: 48 }, out: "203.0.113.77" },
    { name: "IPv6 to /48", ip: "2001:db8:abcd:1234:5678::9", opts: { v4: 24, v6: 48 }, out: "2001:db8:abcd::" },
    { name: "IPv6 to /64", ip: "2001:db8:abcd:1234:5678::9", opts: { v4: 24, v6: 64 }, out: "2001:db8:abcd:1234::" },
  ])("$name", ({ ip, opts, out }) => {
    expect(truncateAddress(parseAddress(ip)!, opts)).toBe(out);
  });

  test.each([
    { name: "none", spec: "none", out: null },
    { name: "24", spec: "24", out: { v4: 24, v6: 48 } },
    { name: "24/56", spec: "24/56", out: { v4: 24, v6: 56 } },
    { name: "/64", spec: "/64", out: { v4: 24, v6: 64 } },
  ])("parseTruncation() reads $name", ({ spec, out }) => {
    expect(parseTruncation(spec)).toEqual(out);
  });

  test("parseTruncation() refuses nonsense with a RangeError", () => {
    expect(() => parseTruncation("33")).toThrow(RangeError);
    expect(() => parseTruncation("abc")).toThrow(RangeError);
  });
});
