import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { clickTargetOf, createLinkCodec, type DecodeResult, type LinkFields, toV1Json } from "../../src/core/link-codec.ts";
import { parseKeyRing } from "../../src/core/key-ring.ts";
import { dictionaryIdOf, V2_DICTIONARY, V2_DICTIONARY_ID } from "../../src/core/link-dictionary.ts";
import { trackedUrl } from "../../src/core/tracked-url.ts";
import { nativePrimitives } from "../../src/runtime/codec-primitives.ts";

const keys = parseKeyRing(["k1:test-secret-0123456789", "k0:older-secret-0123456789"]);
const codec = createLinkCodec({ primitives: nativePrimitives, keys, acceptV1: true });
const now = Date.UTC(2026, 0, 1);
const open: LinkFields = { action: "open", msgId: "0000123456789abcdef0", rcpt: "any@example.com", targetUrl: null };
const click: LinkFields = { action: "click", msgId: "0000123456789abcdef0", rcpt: "any@example.com", targetUrl: "https://example.com/a?x=1&y=<2>" };

function token(url: string): string {
  return url.slice(url.lastIndexOf("/") + 1);
}
function mustDecode(result: DecodeResult) {
  if (!result.ok) throw new Error(`expected ok, got ${result.reason}: ${result.message}`);
  return result.link;
}

// Reference §2.6 and §11: tokens made by the original Go code, and the JSON each one stores.
const goVectors = [
  { name: "open", url: "http://localhost:8888/eJyqVkpMLlGyUspX0lEqiS8tylGyUlLSUcotTo_PTFGyUjIwMDAwNDI2MTUzt7BMTEpOSU0zUNJRKkouAOlKzKt0SK1IzC3ISdVLzs9VqgUEAAD__30wF4E=", json: '{"act":"o","t_url":"","msg_id":"0000123456789abcdef0","rcpt":"any@example.com"}' },
  { name: "initial_open", url: "http://localhost:8888/eJyqVkpMLlGyUspU0lEqiS8tylGyUlLSUcotTo_PTFGyUjIwMDAwNDI2MTUzt7BMTEpOSU0zUNJRKkouAOlKzKt0SK1IzC3ISdVLzs9VqgUEAAD__3uGF3s=", json: '{"act":"i","t_url":"","msg_id":"0000123456789abcdef0","rcpt":"any@example.com"}' },
  { name: "click", url: "http://localhost:8888/eJyqVkpMLlGyUkpW0lEqiS8tylGyUsooKSkottLXT61IzC3ISdVLzs9V0lHKLU6Pz0xRslIyMDAwMDQyNjE1M7ewTExKTklNM1DSUSpKLgAZlJhX6YCssRYQAAD__9UAHpk=", json: '{"act":"c","t_url":"https://example.com","msg_id":"0000123456789abcdef0","rcpt":"any@example.com"}' },
  { name: "click with an escaped target", url: "https://track.example.com/eJxMzd0KgkAQR_F3-V8v7biW1YLUgwQyjdMHuLXoCEr07mFXXv3uzvmAxRAhcLBm7DtEPMzyEL3XiVPudCPv5Pk01cVlJArVXC-WEv4oHNJwb54tIoiIilBud9X-cOSrtHojOPSSlwe_5vOqie8vAAD__2qeJl8=", json: '{"act":"c","t_url":"https://example.com/a?x=1\\u0026y=\\u003c2\\u003e","msg_id":"0000123456789abcdef0","rcpt":"any@example.com"}' },
  { name: "README click", url: "https://my-tracking-domain.com/eJxUzLEOQiEMRuF3-WciGAaTTr4JwbaIUSKBMhnf_Ybxnv18P2Q2EBgOltb4gFDN-iTvraotfs8Lfxsc2nyml4AQdqJZHqqlhCDXGG9wGNw3VYbK_fT-jwAAAP__f2Mg1g==", json: '{"act":"c","t_url":"https://thetucks.com","msg_id":"00000deadbeeff00d1337","rcpt":"fred@thetucks.com"}' },
];

describe("v1 links made by the original Go code", () => {
  test.each(goVectors)("decode() reads the Go vector: $name", ({ url, json }) => {
    const link = mustDecode(codec.decode(token(url), { now }));
    expect(link.format).toBe("v1");
    expect(toV1Json(link)).toBe(json);
    const raw = JSON.parse(json);
    expect(link).toMatchObject({ msgId: raw.msg_id, rcpt: raw.rcpt, targetUrl: raw.t_url === "" ? null : raw.t_url, kid: null });
  });

  test.each(goVectors)("decode() reads the Go vector without its padding: $name", ({ url, json }) => {
    expect(toV1Json(mustDecode(codec.decode(token(url).replace(/=+$/, ""), { now })))).toBe(json);
  });

  test("decode() reads a v1 token whose padding a mail client percent-encoded", () => {
    expect(mustDecode(codec.decode(token(goVectors[0]!.url).replace("=", "%3D"), { now })).action).toBe("open");
  });

  test("a Go vector re-encoded by mtatrack as v1 decodes to the same JSON", () => {
    for (const { url, json } of goVectors) {
      const again = codec.encode(mustDecode(codec.decode(token(url), { now })), { format: "v1" });
      expect(again.startsWith("eJ")).toBe(true);
      expect(again.length % 4).toBe(0); // padded, as Go's base64.URLEncoding
      expect(toV1Json(mustDecode(codec.decode(again, { now })))).toBe(json);
    }
  });

  const zip = (json: string) => nativePrimitives.deflate(new TextEncoder().encode(json)).toBase64({ alphabet: "base64url" });
  test.each([
    { name: "keys in any case, as Go's encoding/json matches them", json: '{"ACT":"c","T_URL":"https://x.example","Msg_Id":"m","RCPT":"r@x"}', expect: { action: "click", targetUrl: "https://x.example", msgId: "m", rcpt: "r@x" } },
    { name: "unknown keys ignored and missing ones empty", json: '{"act":"o","extra":1}', expect: { action: "open", msgId: "", rcpt: null, targetUrl: null } },
    { name: "null values empty", json: '{"act":"i","msg_id":null,"rcpt":null,"t_url":null}', expect: { action: "initial_open", msgId: "", rcpt: null } },
    { name: "the last of duplicate keys wins", json: '{"act":"o","ACT":"i","msg_id":"m"}', expect: { action: "initial_open" } },
  ])("decode() of v1 JSON: $name", ({ json, expect: want }) => {
    expect(mustDecode(codec.decode(zip(json), { now }))).toMatchObject(want);
  });

  test.each([
    { name: "an unknown action", json: '{"act":"x","msg_id":"m"}', reason: "malformed" },
    { name: "an empty action", json: '{"act":"","msg_id":"m"}', reason: "malformed" },
    { name: "a number where a string belongs", json: '{"act":"o","msg_id":5}', reason: "malformed" },
    { name: "a JSON array", json: "[1,2]", reason: "malformed" },
    { name: "not JSON", json: "act=o", reason: "malformed" },
    { name: "a javascript: click target", json: '{"act":"c","t_url":"javascript:alert(1)","msg_id":"m"}', reason: "bad-target" },
    { name: "a click without a target", json: '{"act":"c","t_url":"","msg_id":"m"}', reason: "bad-target" },
    { name: "a target with a leading space", json: '{"act":"c","t_url":" https://x.example","msg_id":"m"}', reason: "bad-target" },
  ])("decode() refuses v1 JSON with $name", ({ json, reason }) => {
    expect(codec.decode(zip(json), { now })).toMatchObject({ ok: false, reason });
  });

  test("toV1Json() escapes like Go's json.Marshal: & < > U+2028 U+2029", () => {
    expect(toV1Json({ action: "click", msgId: "m", rcpt: null, targetUrl: "https://x/?a=1&b=<2>\u2028\u2029" })).toBe('{"act":"c","t_url":"https://x/?a=1\\u0026b=\\u003c2\\u003e\\u2028\\u2029","msg_id":"m","rcpt":""}');
  });
});

describe("docs/links.md test vectors", () => {
  const markdown = readFileSync(join(import.meta.dir, "../../docs/links.md"), "utf8");
  const block = /```json test-vectors\n([\s\S]*?)\n```/.exec(markdown)?.[1];
  const doc = JSON.parse(block ?? "null") as { keys: string[]; vectors: { name: string; token: string; now: number; json?: string; expect: Record<string, unknown> }[] };
  const docKeys = parseKeyRing(doc.keys);
  const docCodec = createLinkCodec({ primitives: nativePrimitives, keys: docKeys, acceptV1: true });

  test("the document has its vectors", () => {
    expect(doc.vectors.length).toBeGreaterThanOrEqual(8);
  });
  test.each(doc.vectors)("decode() gives the documented result: $name", ({ token: t, now: at, expect: want }) => {
    const result = docCodec.decode(t, { now: at });
    if ("reason" in want) expect(result).toMatchObject({ ok: false, reason: want.reason });
    else expect(result).toEqual({ ok: true, link: want as never });
  });
  test.each(doc.vectors.filter((v) => v.json && v.token.startsWith("2.")))("the documented byte layout holds, computed without the codec: $name", ({ token: t, json }) => {
    const [version, kid, payload, tag] = t.split(".");
    expect(version).toBe("2");
    const key = docKeys.find((k) => k.kid === kid)!;
    const signed = new TextEncoder().encode(`2.${kid}.${payload}`);
    expect(nativePrimitives.hmacSha256(key.secret, signed).subarray(0, 16).toBase64({ alphabet: "base64url", omitPadding: true })).toBe(tag!);
    const zipped = Uint8Array.fromBase64(payload!, { alphabet: "base64url" });
    // A compact payload names the dictionary by its DICTID; a plain one names none.
    const dictionary = dictionaryIdOf(zipped) === V2_DICTIONARY_ID ? V2_DICTIONARY : undefined;
    expect(new TextDecoder().decode(nativePrimitives.inflate(zipped, 1 << 16, dictionary))).toBe(json!);
  });
  test("the vectors have compact and plain v2 payloads both", () => {
    const dictionaryIds = doc.vectors.filter((v) => v.token.startsWith("2.")).map((v) => dictionaryIdOf(Uint8Array.fromBase64(v.token.split(".")[2]!, { alphabet: "base64url" })));
    expect(dictionaryIds).toContain(V2_DICTIONARY_ID);
    expect(dictionaryIds).toContain(null);
  });
});

describe("v2 payloads: compact (preset dictionary) by default, plain on request", () => {
  const payloadOf = (t: string) => Uint8Array.fromBase64(t.split(".")[2]!, { alphabet: "base64url" });
  const marketing: LinkFields = { action: "click", msgId: "0000ecd8086b5cac6a04", rcpt: "jane.doe@gmail.com",
    targetUrl: "https://www.shop-example.com/products/winter-boots?utm_source=newsletter&utm_medium=email&utm_campaign=dec_2026" };

  test("encode() writes v2 with the dictionary and fixed codes; v2-plain without; both decode to the same link", () => {
    const compact = codec.encode(marketing);
    const plain = codec.encode(marketing, { format: "v2-plain" });
    expect(dictionaryIdOf(payloadOf(compact))).toBe(V2_DICTIONARY_ID);
    expect(dictionaryIdOf(payloadOf(plain))).toBeNull();
    // Fixed codes: the first block's header bits are BFINAL=1, BTYPE=01 (RFC 1951 §3.2.3), after the 6-byte header.
    expect(payloadOf(compact)[6]! & 0b111).toBe(0b011);
    expect(mustDecode(codec.decode(compact, { now }))).toEqual(mustDecode(codec.decode(plain, { now })));
    expect(mustDecode(codec.decode(compact, { now }))).toMatchObject({ format: "v2", ...marketing });
  });

  test("a marketing click's token is much shorter compact than plain", () => {
    const compact = codec.encode(marketing);
    const plain = codec.encode(marketing, { format: "v2-plain" });
    expect(compact.length).toBeLessThan(plain.length * 0.75);
  });

  test("random fields round-trip in both forms", () => {
    fc.assert(fc.property(fc.string({ maxLength: 60 }), fc.option(fc.string({ maxLength: 60 })), fc.webUrl({ withQueryParameters: true }), fc.constantFrom("v2", "v2-plain"),
      (msgId, rcpt, targetUrl, format) => {
        const fields: LinkFields = { action: "click", msgId, rcpt, targetUrl, linkName: null, expiresAt: null };
        expect(mustDecode(codec.decode(codec.encode(fields, { format: format as "v2" | "v2-plain" }), { now }))).toMatchObject({ ...fields, format: "v2" });
      }), { numRuns: 300 });
  });

  /** A validly signed v2 token around any payload bytes, as only a key holder could make. */
  const signedAround = (payloadBytes: Uint8Array) => {
    const signed = `2.k1.${payloadBytes.toBase64({ alphabet: "base64url", omitPadding: true })}`;
    return `${signed}.${nativePrimitives.hmacSha256(keys[0]!.secret, new TextEncoder().encode(signed)).subarray(0, 16).toBase64({ alphabet: "base64url", omitPadding: true })}`;
  };

  test("a signed payload that asks for a dictionary the decoder does not know is malformed, naming its id", () => {
    const other = new TextEncoder().encode('{"a":"o","m":"');
    const t = signedAround(nativePrimitives.deflate(new TextEncoder().encode('{"a":"o","m":"m1"}'), { dictionary: other }));
    const result = codec.decode(t, { now });
    expect(result).toMatchObject({ ok: false, reason: "malformed" });
    expect(!result.ok && result.message).toContain("unknown dictionary");
  });

  test("a v1 token whose stream asks for the v2 dictionary is malformed: the original never wrote one", () => {
    const zipped = nativePrimitives.deflate(new TextEncoder().encode(toV1Json(open)), { dictionary: V2_DICTIONARY });
    expect(codec.decode(zipped.toBase64({ alphabet: "base64url" }), { now })).toMatchObject({ ok: false, reason: "malformed" });
  });

  test("a compact payload that inflates past the cap is inflate-cap, like a plain one", () => {
    const bomb = nativePrimitives.deflate(new TextEncoder().encode(`{"a":"o","m":"${"0000".repeat(5000)}"}`), { dictionary: V2_DICTIONARY, fixedCodes: true });
    expect(codec.decode(signedAround(bomb), { now })).toMatchObject({ ok: false, reason: "inflate-cap" });
  });

  test("v2-plain needs a key like v2, and an unknown format is a RangeError naming the three", () => {
    expect(() => createLinkCodec({ primitives: nativePrimitives, keys: [] }).encode(open, { format: "v2-plain" })).toThrow(RangeError);
    expect(() => codec.encode(open, { format: "v3" as never })).toThrow(/v1, v2 or v2-plain/);
  });
});

describe("v2 signed links", () => {
  test("encode() makes a v2 token by default: 2.<kid>.<payload>.<22-char tag>, URL-safe, no padding", () => {
    const t = codec.encode(click);
    expect(t).toMatch(/^2\.k1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(encodeURIComponent(t)).toBe(t);
  });

  test("the first key signs and every key verifies", () => {
    const older = createLinkCodec({ primitives: nativePrimitives, keys: [keys[1]!] });
    const t = older.encode(open);
    expect(t.startsWith("2.k0.")).toBe(true);
    expect(mustDecode(codec.decode(t, { now })).kid).toBe("k0");
  });

  test("a token under a key id the ring lacks is unknown-key; under the same id with another secret, bad-signature", () => {
    const other = createLinkCodec({ primitives: nativePrimitives, keys: parseKeyRing(["k9:test-secret-0123456789"]) });
    expect(codec.decode(other.encode(open), { now })).toMatchObject({ ok: false, reason: "unknown-key" });
    const impostor = createLinkCodec({ primitives: nativePrimitives, keys: parseKeyRing(["k1:not-the-secret-0123456789"]) });
    expect(codec.decode(impostor.encode(open), { now })).toMatchObject({ ok: false, reason: "bad-signature" });
  });

  test("flipping any single character of a v2 token makes it fail", () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=%~ ";
    const tokens = [codec.encode(click), codec.encode({ ...open, rcpt: null, linkName: "n", expiresAt: 4102444800 })];
    let tried = 0;
    for (const t of tokens) {
      for (let i = 0; i < t.length; i++) {
        for (const ch of alphabet) {
          if (ch === t[i]) continue;
          const result = codec.decode(t.slice(0, i) + ch + t.slice(i + 1), { now });
          if (result.ok) throw new Error(`position ${i} -> ${ch} still decodes`);
          tried++;
        }
        expect(codec.decode(t.slice(0, i) + t.slice(i + 1), { now }).ok).toBe(false); // deleting it too
      }
    }
    expect(tried).toBeGreaterThan(10_000);
  });

  test("clickTargetOf() refuses an open token where a click is expected, and a re-signed action cannot be forged", () => {
    const openResult = codec.decode(codec.encode(open), { now });
    expect(openResult.ok).toBe(true);
    expect(clickTargetOf(openResult)).toBeNull();
    expect(clickTargetOf(codec.decode(codec.encode({ ...open, action: "initial_open" }), { now }))).toBeNull();
    expect(clickTargetOf(codec.decode(codec.encode(click), { now }))).toBe(click.targetUrl!);
    expect(clickTargetOf(codec.decode("garbage", { now }))).toBeNull();
    // Swap an open token's payload for a click payload and keep its tag: the action is inside the signed part.
    const [v, kid, , tag] = codec.encode(open).split(".");
    const clickPayload = codec.encode(click).split(".")[2];
    expect(codec.decode([v, kid, clickPayload, tag].join("."), { now })).toMatchObject({ ok: false, reason: "bad-signature" });
  });

  test.each([
    { name: "one second before expiry is valid", at: 1_000_000_000 * 1000 - 1000, ok: true },
    { name: "one millisecond before expiry is valid", at: 1_000_000_000 * 1000 - 1, ok: true },
    { name: "the expiry second itself is expired", at: 1_000_000_000 * 1000, ok: false },
    { name: "after expiry is expired", at: 2_000_000_000 * 1000, ok: false },
  ])("expiry: $name", ({ at, ok }) => {
    const result = codec.decode(codec.encode({ ...click, expiresAt: 1_000_000_000 }), { now: at });
    expect(result.ok).toBe(ok);
    if (!ok) expect(result).toMatchObject({ reason: "expired" });
  });

  test("a recipient left out of the link decodes as null", () => {
    expect(mustDecode(codec.decode(codec.encode({ ...open, rcpt: null }), { now })).rcpt).toBeNull();
  });

  test("without acceptV1 a v1 token is v1-disabled and garbage is malformed; v2 still decodes", () => {
    const strict = createLinkCodec({ primitives: nativePrimitives, keys });
    expect(strict.decode(token(goVectors[0]!.url), { now })).toMatchObject({ ok: false, reason: "v1-disabled" });
    expect(strict.decode("hello", { now })).toMatchObject({ ok: false, reason: "malformed" });
    expect(strict.decode(codec.encode(open), { now }).ok).toBe(true);
  });
});

describe("encode() refuses what a link cannot carry", () => {
  test.each([
    { name: "a javascript: click target", fields: { ...click, targetUrl: "javascript:alert(1)" } },
    { name: "a mailto: click target", fields: { ...click, targetUrl: "mailto:a@b" } },
    { name: "a click without a target", fields: { ...click, targetUrl: null } },
    { name: "an open with a target", fields: { ...open, targetUrl: "https://x.example" } },
    { name: "an unknown action", fields: { ...open, action: "bounce" as never } },
    { name: "a negative expiry", fields: { ...open, expiresAt: -1 } },
    { name: "a fractional expiry", fields: { ...open, expiresAt: 1.5 } },
    { name: "a token over the length limit", fields: { ...click, targetUrl: `https://x.example/${Array.from({ length: 200 }, () => crypto.randomUUID()).join("")}` } },
  ])("encode() throws RangeError for $name", ({ fields }) => {
    expect(() => codec.encode(fields)).toThrow(RangeError);
  });
  test("encode() throws RangeError for v1 with an expiry or name, and for v2 without a key", () => {
    expect(() => codec.encode({ ...open, expiresAt: 5 }, { format: "v1" })).toThrow(RangeError);
    expect(() => codec.encode({ ...open, linkName: "n" }, { format: "v1" })).toThrow(RangeError);
    expect(() => createLinkCodec({ primitives: nativePrimitives, keys: [] }).encode(open)).toThrow(RangeError);
  });
});

describe("decode() limits", () => {
  const bomb = nativePrimitives.deflate(new Uint8Array(20_000_000).fill(0x20)).toBase64({ alphabet: "base64url" });
  test("a token over maxTokenLength is too-long, before any work", () => {
    expect(codec.decode(`eJ${"A".repeat(5000)}`, { now })).toMatchObject({ ok: false, reason: "too-long" });
  });
  test("a v1 zlib bomb stops at the inflate cap", () => {
    const small = createLinkCodec({ primitives: nativePrimitives, keys, acceptV1: true, maxTokenLength: 1 << 20 });
    expect(small.decode(bomb, { now })).toMatchObject({ ok: false, reason: "inflate-cap" });
  });
  test("a payload just under the cap decodes and just over it is refused", () => {
    const json = (n: number) => toV1Json({ action: "open", msgId: "x".repeat(n), rcpt: null, targetUrl: null });
    const base = json(0).length;
    const capped = createLinkCodec({ primitives: nativePrimitives, keys, acceptV1: true, maxInflatedBytes: 1000 });
    const enc = (n: number) => nativePrimitives.deflate(new TextEncoder().encode(json(n))).toBase64({ alphabet: "base64url" });
    expect(capped.decode(enc(1000 - base), { now }).ok).toBe(true);
    expect(capped.decode(enc(1001 - base), { now })).toMatchObject({ ok: false, reason: "inflate-cap" });
  });
  test.each([
    { name: "empty", t: "" },
    { name: "not base64", t: "eJ!!!!" },
    { name: "base64 but not zlib", t: "eJxhello" },
    { name: "v2 with too few parts", t: "2.k1.abc" },
    { name: "v2 with an empty kid", t: "2..eJx.AAAAAAAAAAAAAAAAAAAAAA" },
    { name: "v2 with a short tag", t: "2.k1.eJx.AAAA" },
  ])("decode() of $name is a clean malformed", ({ t }) => {
    expect(codec.decode(t, { now })).toMatchObject({ ok: false, reason: "malformed" });
  });
});

describe("round trips (property)", () => {
  const str = fc.string({ unit: "binary", maxLength: 60 });
  const url = fc.tuple(fc.constantFrom("http://", "https://", "HTTPS://"), fc.domain(), fc.string({ unit: "binary", maxLength: 80 })).map(([s, d, p]) => `${s}${d}/${p}`);
  const base = fc.record({ msgId: str, rcpt: fc.option(str.filter((s) => s !== ""), { nil: null }) });
  const fields = fc.oneof(
    base.chain((b) => fc.constantFrom("open", "initial_open").map((action) => ({ ...b, action, targetUrl: null }) as LinkFields)),
    base.chain((b) => url.map((targetUrl) => ({ ...b, action: "click", targetUrl }) as LinkFields)),
  );

  test("v1: decode(encode(fields)) gives the fields back (rcpt '' and null are the same in v1)", () => {
    fc.assert(fc.property(fields, (f) => {
      const link = mustDecode(codec.decode(codec.encode(f, { format: "v1" }), { now }));
      expect(link).toEqual({ ...f, format: "v1", kid: null, linkName: null, expiresAt: null });
    }), { numRuns: 3000 });
  });

  test("v2: decode(encode(fields)) gives the fields back, with name and expiry", () => {
    const extra = fc.record({ linkName: fc.option(str, { nil: null }), expiresAt: fc.option(fc.integer({ min: Math.ceil(now / 1000) + 1, max: 2 ** 40 }), { nil: null }) });
    fc.assert(fc.property(fields, extra, fc.constantFrom(0, 1), (f, x, signer) => {
      const signing = createLinkCodec({ primitives: nativePrimitives, keys: [keys[signer]!] });
      const link = mustDecode(codec.decode(signing.encode({ ...f, ...x }), { now }));
      expect(link).toEqual({ ...f, ...x, format: "v2", kid: keys[signer]!.kid });
    }), { numRuns: 3000 });
  });
});

describe("parseKeyRing()", () => {
  test("parses kid:secret, keeps order, takes everything after the first colon as the secret", () => {
    const ring = parseKeyRing(["b:0123456789abcdef:x", " a:fedcba9876543210 ", ""]);
    expect(ring.map((k) => k.kid)).toEqual(["b", "a"]);
    expect(new TextDecoder().decode(ring[0]!.secret)).toBe("0123456789abcdef:x");
  });
  test.each([
    { name: "no colon", spec: "k1secret" },
    { name: "an empty kid", spec: ":0123456789abcdef" },
    { name: "a kid with a dot", spec: "k.1:0123456789abcdef" },
    { name: "a short secret", spec: "k1:short" },
  ])("throws RangeError for $name, without echoing the secret", ({ spec }) => {
    expect(() => parseKeyRing([spec])).toThrow(RangeError);
    try {
      parseKeyRing([spec]);
    } catch (error) {
      expect((error as Error).message).not.toContain("0123456789abcdef");
      expect((error as Error).message).not.toContain("short");
    }
  });
  test("throws RangeError for a duplicate kid", () => {
    expect(() => parseKeyRing(["k:0123456789abcdef", "k:0123456789abcdeX"])).toThrow(RangeError);
  });
});

describe("trackedUrl()", () => {
  test.each([
    { name: "bare host", base: "http://localhost:8888", want: "http://localhost:8888/T" },
    { name: "trailing slash", base: "https://t.example.com/", want: "https://t.example.com/T" },
    { name: "path prefix kept", base: "https://t.example.com/prefix", want: "https://t.example.com/prefix/T" },
    { name: "path prefix with slash", base: "https://t.example.com/prefix/", want: "https://t.example.com/prefix/T" },
    { name: "default port dropped", base: "https://t.example.com:443", want: "https://t.example.com/T" },
  ])("joins base and token: $name", ({ base, want }) => {
    expect(trackedUrl(base, "T")).toBe(want);
  });
  test.each([
    { name: "not a URL", base: "notaurl" },
    { name: "empty", base: "" },
    { name: "ftp", base: "ftp://t.example.com" },
    { name: "a query", base: "https://t.example.com/?q=1" },
    { name: "a fragment", base: "https://t.example.com/#f" },
    { name: "credentials", base: "https://u:p@t.example.com" },
  ])("throws RangeError for $name", ({ base }) => {
    expect(() => trackedUrl(base, "T")).toThrow(RangeError);
  });
});

test("a payload whose JSON starts with a byte order mark is malformed, as Go's json refuses it", () => {
  const withBom = (json: string) => nativePrimitives.deflate(new TextEncoder().encode(`\ufeff${json}`)).toBase64({ alphabet: "base64url" });
  expect(codec.decode(withBom(toV1Json(open)), { now })).toMatchObject({ ok: false, reason: "malformed" });
  expect(mustDecode(codec.decode(nativePrimitives.deflate(new TextEncoder().encode(toV1Json(open))).toBase64({ alphabet: "base64url" }), { now }))).toMatchObject({ msgId: open.msgId });
});
