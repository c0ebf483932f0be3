/** @module resolveWrapperConfig(): the original's defaults, both TLS modes, and clear refusals. */
import { describe, expect, test } from "bun:test";
import { parseCredentials, resolveWrapperConfig } from "../../src/wrapper/smtp-config.ts";

describe("resolveWrapperConfig()", () => {
  test("has the original's defaults", () => {
    const c = resolveWrapperConfig({}, {});
    expect(c.listen).toEqual({ hostname: "localhost", port: 587 });
    expect(c.upstream).toMatchObject({ host: "smtp.sparkpostmail.com", port: 587, implicitTls: false, startTls: true, requireTls: false, verify: true });
    expect(c.trackingUrl).toBe("http://localhost:8888");
    expect(c.tracking).toMatchObject({ trackOpen: true, trackInitialOpen: false, trackClick: false });
    expect(c.tls).toBeNull();
    expect(c.rcptPolicy).toBe("split");
    expect(c.idleTimeoutMs).toBe(60_000);
  });

  const cases = [
    { name: "an empty tracking URL is the plain relay", args: { "tracking-url": "" }, check: (c: ReturnType<typeof resolveWrapperConfig>) => expect(c.trackingUrl).toBe("") },
    { name: "env gives the tracking URL when the flag is absent", args: {}, env: { MTATRACK_TRACKING_URL: "https://t.example" }, check: (c: ReturnType<typeof resolveWrapperConfig>) => expect(c.trackingUrl).toBe("https://t.example") },
    { name: "port 465 upstream means implicit TLS", args: { "out-hostport": "mx.example:465" }, check: (c: ReturnType<typeof resolveWrapperConfig>) => expect(c.upstream.implicitTls).toBe(true) },
    { name: "an empty upstream host means localhost, as Go", args: { "out-hostport": ":2525" }, check: (c: ReturnType<typeof resolveWrapperConfig>) => expect(c.upstream.host).toBe("localhost") },
    { name: "--upstream-tls starttls requires it", args: { "upstream-tls": "starttls" }, check: (c: ReturnType<typeof resolveWrapperConfig>) => expect(c.upstream.requireTls).toBe(true) },
    { name: "-insecure_skip_verify turns verification off", args: { "upstream-insecure": true }, check: (c: ReturnType<typeof resolveWrapperConfig>) => expect(c.upstream.verify).toBe(false) },
    { name: "links are compact v2 by default", args: {}, check: (c: ReturnType<typeof resolveWrapperConfig>) => expect(c.linkFormat).toBe("v2") },
    { name: "--link-format v2-plain writes v2 without the dictionary", args: { "link-format": "v2-plain" }, check: (c: ReturnType<typeof resolveWrapperConfig>) => expect(c.linkFormat).toBe("v2-plain") },
    { name: "a certificate and key enable TLS", args: { "tls-cert": "c.pem", "tls-key": "k.pem" }, check: (c: ReturnType<typeof resolveWrapperConfig>) => expect(c.tls).toEqual({ certPath: "c.pem", keyPath: "k.pem" }) },
  ];
  for (const c of cases) test(c.name, () => c.check(resolveWrapperConfig(c.args, c.env ?? {})));

  const refusals = [
    { name: "a certificate without a key", args: { "tls-cert": "c.pem" }, message: /without --tls-key/ },
    { name: "implicit TLS without a certificate", args: { "tls-hostport": ":465" }, message: /without --tls-cert/ },
    { name: "local AUTH without a credentials file", args: { auth: "local" }, message: /--auth-file/ },
    { name: "an unknown link format", args: { "link-format": "v3" }, message: /link-format "v3"/ },
    { name: "an unknown rcpt policy", args: { "rcpt-policy": "fanout" }, message: /rcpt-policy "fanout"/ },
    { name: "a bad listen address", args: { "in-hostport": "587" }, message: /listen address "587"/ },
    { name: "a bad size", args: { "max-size": "lots" }, message: /--max-size "lots"/ },
  ];
  for (const r of refusals) test(`refuses ${r.name}`, () => expect(() => resolveWrapperConfig(r.args, {})).toThrow(r.message));
});

describe("parseCredentials()", () => {
  test("reads user:password lines, skipping blanks and comments; the password may contain colons", () => {
    expect(parseCredentials("# users\nalice:secret\n\nbob:a:b:c\r\n")).toEqual(new Map([["alice", "secret"], ["bob", "a:b:c"]]));
  });
  test("names the line of a malformed entry, never its content", () => {
    expect(() => parseCredentials("alice:ok\nnocolon\n")).toThrow("Cannot parse credentials line 2: expected user:password");
  });
});
