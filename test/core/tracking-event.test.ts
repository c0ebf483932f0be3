import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { buildTrackingEvent, eventIdFromBytes, MAX_USER_AGENT_CHARS } from "../../src/core/tracking-event.ts";
import type { DecodedLink } from "../../src/core/link-codec.ts";
import { parseListenAddress } from "../../src/core/listen-address.ts";
import { forWorker, resolveTrackerConfig } from "../../src/core/tracker-config.ts";

describe("eventIdFromBytes()", () => {
  test.each([
    { name: "all zero bytes give 0", bytes: [0, 0, 0, 0, 0, 0, 0, 0], id: "0" },
    { name: "all ones give 2^63-1 (the top bit is cleared)", bytes: [255, 255, 255, 255, 255, 255, 255, 255], id: "9223372036854775807" },
    { name: "big-endian", bytes: [0, 0, 0, 0, 0, 0, 1, 0], id: "256" },
    { name: "the high half counts", bytes: [0, 0, 0, 1, 0, 0, 0, 0], id: "4294967296" },
  ])("$name", ({ bytes, id }) => {
    expect(eventIdFromBytes(Uint8Array.from(bytes))).toBe(id);
  });

  test("eventIdFromBytes() is always a decimal in 0 … 2^63-1", () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), (bytes) => {
      const id = eventIdFromBytes(bytes);
      expect(id).toMatch(/^(0|[1-9]\d*)$/);
      expect(BigInt(id) < 2n ** 63n).toBe(true);
    }));
  });

  test("eventIdFromBytes() is the bytes' big-endian value with the top bit cleared, exactly (against BigInt)", () => {
    const exact = (b: Uint8Array, at: number) => (new DataView(b.buffer, b.byteOffset + at, 8).getBigUint64(0) & (2n ** 63n - 1n)).toString();
    fc.assert(fc.property(fc.uint8Array({ minLength: 8, maxLength: 24 }), fc.nat(16), (bytes, at) => {
      const offset = at % (bytes.length - 7);
      expect(eventIdFromBytes(bytes, offset)).toBe(exact(bytes, offset));
    }), { numRuns: 5000 });
    // Where the decimal parts carry: values just around multiples of 1e9 and of 2^32; and where the 9-digit
    // pieces are zero inside the number (10^18 + 5 is "1", "000000000", "000000005").
    for (const v of [0n, 999_999_999n, 1_000_000_000n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 48n - 1n, 2n ** 48n, 10n ** 17n, 10n ** 18n - 1n, 10n ** 18n, 10n ** 18n + 5n, 2n ** 63n - 1n]) {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, v);
      expect(eventIdFromBytes(b)).toBe(v.toString());
    }
  });

  test("eventIdFromBytes() throws a RangeError for fewer than 8 bytes", () => {
    expect(() => eventIdFromBytes(new Uint8Array(7))).toThrow(RangeError);
  });
});

describe("buildTrackingEvent()", () => {
  const link: DecodedLink = { format: "v2", kid: "k1", action: "click", msgId: "m1", rcpt: "a@example.com", targetUrl: "https://example.com/", linkName: "cta", expiresAt: null };
  test("carries the link, the hit and the verdicts", () => {
    const event = buildTrackingEvent(link, { ts: 1700000000123, ip: "203.0.113.0", userAgent: "UA" }, { eventId: "42", verdict: { machine: true, reason: "fast-click" }, first: true });
    expect(event).toEqual({
      event_id: "42", type: "click", ts: 1700000000123, msg_id: "m1", rcpt: "a@example.com", target_link_url: "https://example.com/",
      link_name: "cta", ip: "203.0.113.0", user_agent: "UA", machine: true, machine_reason: "fast-click", first: true,
    });
  });
  test("an open never carries a target, even when a v1 token had one", () => {
    const event = buildTrackingEvent({ ...link, action: "open", format: "v1" }, { ts: 1, ip: "", userAgent: "" }, { eventId: "1", verdict: { machine: false, reason: null }, first: false });
    expect(event.target_link_url).toBeNull();
  });
  test("a huge user agent is cut", () => {
    const event = buildTrackingEvent(link, { ts: 1, ip: "", userAgent: "x".repeat(5000) }, { eventId: "1", verdict: { machine: false, reason: null }, first: false });
    expect(event.user_agent.length).toBe(MAX_USER_AGENT_CHARS);
  });
});

describe("tracker configuration", () => {
  test.each([
    { name: "the original's default", spec: ":8888", out: { hostname: "", port: 8888 } },
    { name: "host and port", spec: "127.0.0.1:9000", out: { hostname: "127.0.0.1", port: 9000 } },
    { name: "bracketed IPv6", spec: "[::1]:9000", out: { hostname: "::1", port: 9000 } },
  ])("parseListenAddress() reads $name", ({ spec, out }) => {
    expect(parseListenAddress(spec)).toEqual(out);
  });
  test("parseListenAddress() refuses a missing port", () => {
    expect(() => parseListenAddress("localhost")).toThrow(RangeError);
  });
  test("resolveTrackerConfig() takes the original's -in_hostport spelling and defaults", () => {
    const c = resolveTrackerConfig({ in_hostport: "127.0.0.1:8080" }, {});
    expect(c.listen).toEqual({ hostname: "127.0.0.1", port: 8080 });
    expect(c.serverHeader).toBe("msys-http");
    expect(c.trustProxy).toEqual(["loopback"]);
    expect(c.ipTruncate).toBeNull();
    expect(c.fastClickMs).toBe(2000);
    expect(c.spoolMaxBytes).toBe(512 * 1024 * 1024);
    expect(Object.isFrozen(c)).toBe(true);
  });
  test.each([
    { name: "a bad proxy CIDR", args: { "trust-proxy": "10.0.0.0/99" }, error: /10\.0\.0\.0\/99/ },
    { name: "a TLS cert without key", args: { "tls-cert": "a.pem" }, error: /both --tls-cert and --tls-key/ },
    { name: "an unknown machine-range reason", args: { "machine-ranges": "nope=file" }, error: /REASON=FILE/ },
    { name: "a non-ASCII server header", args: { "server-header": "sérveur" }, error: /printable ASCII/ },
    { name: "a bad spool size", args: { "spool-max": "lots" }, error: /spool-max/ },
  ])("resolveTrackerConfig() refuses $name", ({ args, error }) => {
    expect(() => resolveTrackerConfig(args, {})).toThrow(error);
  });
  test("resolveTrackerConfig() reads --workers: a number, or auto (0: one per CPU)", () => {
    expect(resolveTrackerConfig({ workers: "4" }, {}).workers).toBe(4);
    expect(resolveTrackerConfig({ workers: "auto" }, {}).workers).toBe(0);
    expect(() => resolveTrackerConfig({ workers: "many" }, {})).toThrow(/--workers/);
  });
  test("forWorker() gives each worker its own spool and metrics port", () => {
    const c = resolveTrackerConfig({ "metrics-listen": "127.0.0.1:9188", spool: "/var/lib/mtatrack/t.spool" }, {});
    const w2 = forWorker(c, 2, "/unused");
    expect(w2.spoolPath).toBe("/var/lib/mtatrack/t.spool.w2");
    expect(w2.metricsListen).toEqual({ hostname: "127.0.0.1", port: 9189 });
    expect(forWorker(resolveTrackerConfig({}, {}), 1, "/var/lib/mtatrack/tracker-8888.spool").spoolPath).toBe("/var/lib/mtatrack/tracker-8888.spool.w1");
  });
});
