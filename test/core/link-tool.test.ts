import { expect, test } from "bun:test";
import { createLinkCodec } from "../../src/core/link-codec.ts";
import { encodeFields, equivalentEncodeCommand, linkJson, parseExpiry, splitTrackedUrl, verifyVerdict } from "../../src/core/link-tool.ts";
import { nativePrimitives } from "../../src/runtime/codec-primitives.ts";

const readme = "https://my-tracking-domain.com/eJxUzLEOQiEMRuF3-WciGAaTTr4JwbaIUSKBMhnf_Ybxnv18P2Q2EBgOltb4gFDN-iTvraotfs8Lfxsc2nyml4AQdqJZHqqlhCDXGG9wGNw3VYbK_fT-jwAAAP__f2Mg1g==";

test("decode output for the original README vector matches the original's lines (plus -format v1)", () => {
  const { trackingUrl, token } = splitTrackedUrl(readme);
  const result = createLinkCodec({ primitives: nativePrimitives, keys: [], acceptV1: true }).decode(token, { now: 0 });
  if (!result.ok) throw new Error(result.message);
  expect(linkJson(result.link)).toBe('{"act":"c","t_url":"https://thetucks.com","msg_id":"00000deadbeeff00d1337","rcpt":"fred@thetucks.com"}');
  expect(equivalentEncodeCommand(result.link, trackingUrl)).toBe("Equivalent to encode -tracking_url https://my-tracking-domain.com -rcpt_to fred@thetucks.com -action click -target_link_url https://thetucks.com -message_id 00000deadbeeff00d1337 -format v1");
});

test.each([
  { name: "a full URL", input: "https://t.example.com/eJx=", want: { trackingUrl: "https://t.example.com", token: "eJx=" } },
  { name: "a URL with a prefix", input: "https://t.example.com/p/q/2.k.x.y", want: { trackingUrl: "https://t.example.com/p/q", token: "2.k.x.y" } },
  { name: "a percent-encoded segment", input: "http://h/eJx%3D", want: { trackingUrl: "http://h", token: "eJx=" } },
  { name: "a bare token", input: " eJx= ", want: { trackingUrl: null, token: "eJx=" } },
])("splitTrackedUrl() takes $name", ({ input, want }) => {
  expect(splitTrackedUrl(input)).toEqual(want);
});

test("splitTrackedUrl() throws RangeError for a URL without a token", () => {
  expect(() => splitTrackedUrl("https://t.example.com/")).toThrow(RangeError);
});

test.each([
  { name: "plain seconds", in: "3600", want: 3600 },
  { name: "minutes", in: "90m", want: 5400 },
  { name: "days", in: "30d", want: 30 * 86400 },
  { name: "weeks", in: "2w", want: 14 * 86400 },
])("parseExpiry() reads $name", ({ in: text, want }) => {
  expect(parseExpiry(text, undefined, 1000_000)).toBe(1000 + want);
});

test.each([
  { name: "both options", a: "1h", b: "5" },
  { name: "a bad duration", a: "1y", b: undefined },
  { name: "a bad timestamp", a: undefined, b: "soon" },
])("parseExpiry() throws RangeError for $name", ({ a, b }) => {
  expect(() => parseExpiry(a, b, 0)).toThrow(RangeError);
});

test("encodeFields() keeps the target for clicks only, maps an empty or omitted recipient to null, refuses a bad action", () => {
  const base = { action: "open", messageId: "m", rcptTo: "r@x", omitRcpt: false, targetLinkUrl: "https://x" };
  expect(encodeFields(base, 0)).toMatchObject({ action: "open", targetUrl: null, rcpt: "r@x", expiresAt: null });
  expect(encodeFields({ ...base, action: "click" }, 0).targetUrl).toBe("https://x");
  expect(encodeFields({ ...base, omitRcpt: true }, 0).rcpt).toBeNull();
  expect(encodeFields({ ...base, rcptTo: "" }, 0).rcpt).toBeNull();
  expect(() => encodeFields({ ...base, action: "bounce" }, 0)).toThrow(RangeError);
});

test("verifyVerdict() calls a v1 link invalid, since it is unsigned", () => {
  const link = { format: "v1", kid: null, action: "open", msgId: "m", rcpt: null, targetUrl: null, linkName: null, expiresAt: null } as const;
  expect(verifyVerdict({ ok: true, link }, null)).toEqual({ valid: false, line: "invalid: v1 link, which carries no signature" });
});
