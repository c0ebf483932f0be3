import { describe, expect, test } from "bun:test";
import { type CodecPrimitives, createLinkCodec, type DecodeFailure, type DecodeResult, type LinkCodec } from "../../src/core/link-codec.ts";
import { parseKeyRing } from "../../src/core/key-ring.ts";
import { nativePrimitives } from "../../src/runtime/codec-primitives.ts";

// More than 100,000 random and mutated tokens through decode(): each must end in a clean DecodeResult, never an
// exception, and inflate must never hand back more than the cap. Seeded, so a failure reproduces.
const CAP = 8192;
const REASONS = new Set<DecodeFailure>(["too-long", "malformed", "inflate-cap", "unknown-key", "bad-signature", "expired", "v1-disabled", "bad-target"]);
const now = Date.UTC(2026, 0, 1);
const keys = parseKeyRing(["k1:fuzz-secret-0123456789", "k0:older-fuzz-secret-0123"]);

function seeded(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => ((s ^= s << 13), (s ^= s >>> 17), (s ^= s << 5), (s >>> 0) / 2 ** 32);
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]! };
}

/** Native primitives that also record the largest inflate output and fail the test if it passes the cap. */
function spying() {
  const stats = { inflates: 0, capHits: 0, largest: 0 };
  const primitives: CodecPrimitives = {
    ...nativePrimitives,
    inflate(data, maxBytes, dictionary) {
      stats.inflates++;
      expect(maxBytes).toBeLessThanOrEqual(CAP);
      try {
        const out = nativePrimitives.inflate(data, maxBytes, dictionary);
        stats.largest = Math.max(stats.largest, out.length);
        return out;
      } catch (error) {
        if (error instanceof RangeError) stats.capHits++;
        throw error;
      }
    },
  };
  return { primitives, stats };
}

function checkClean(result: DecodeResult): void {
  if (result.ok) {
    const { link } = result;
    expect(["open", "initial_open", "click"]).toContain(link.action);
    expect(typeof link.msgId).toBe("string");
    if (link.action === "click") expect(link.targetUrl).toMatch(/^https?:\/\//i);
    else expect(link.targetUrl).toBeNull();
  } else {
    expect(REASONS.has(result.reason)).toBe(true);
    expect(typeof result.message).toBe("string");
  }
}

function decodeAll(codec: LinkCodec, tokens: Iterable<string>): { ok: number; reasons: Record<string, number> } {
  const tally = { ok: 0, reasons: {} as Record<string, number> };
  for (const token of tokens) {
    let result: DecodeResult;
    try {
      result = codec.decode(token, { now });
    } catch (error) {
      throw new Error(`decode threw for ${JSON.stringify(token.slice(0, 120))}`, { cause: error });
    }
    checkClean(result);
    if (result.ok) tally.ok++;
    else tally.reasons[result.reason] = (tally.reasons[result.reason] ?? 0) + 1;
  }
  return tally;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const NOISE = `${B64}.=%+/ \r\n\u0000\u00e9\u2028\ud800😀`;

function mutate(rng: ReturnType<typeof seeded>, token: string): string {
  let t = token;
  for (let n = 1 + rng.int(3); n > 0; n--) {
    const i = rng.int(t.length + 1);
    switch (rng.int(6)) {
      case 0: t = t.slice(0, i) + rng.pick([...NOISE]) + t.slice(i + 1); break; // replace
      case 1: t = t.slice(0, i) + rng.pick([...B64]) + t.slice(i); break; // insert
      case 2: t = t.slice(0, i) + t.slice(i + 1); break; // delete
      case 3: t = t.slice(0, i); break; // truncate
      case 4: t = t.slice(0, i) + t.slice(i, i + rng.int(40)) + t.slice(i); break; // duplicate a run
      default: t = t.slice(0, i) + t.slice(rng.int(t.length)); break; // splice
    }
  }
  return t;
}

describe("decode() under fuzzing", () => {
  const { primitives, stats } = spying();
  const v1AndV2 = createLinkCodec({ primitives, keys, acceptV1: true });
  const rng = seeded(20261129);
  const fieldsAt = (i: number) => ({
    action: (["open", "initial_open", "click"] as const)[i % 3]!,
    msgId: `msg-${i}`,
    rcpt: i % 4 === 0 ? null : `r${i}@example.com`,
    targetUrl: i % 3 === 2 ? `https://example.com/p/${i}?q=${"x".repeat(i % 50)}` : null,
  });
  const validV1 = Array.from({ length: 50 }, (_, i) => v1AndV2.encode(fieldsAt(i), { format: "v1" }));
  const validV2 = Array.from({ length: 50 }, (_, i) => v1AndV2.encode({ ...fieldsAt(i), expiresAt: i % 5 === 0 ? 4102444800 : null }));

  test("30,000 random strings end in clean results", () => {
    const alphabets = [B64, `${B64}.`, NOISE];
    const tally = decodeAll(v1AndV2, (function* () {
      for (let i = 0; i < 30_000; i++) {
        const alphabet = [...rng.pick(alphabets)];
        const prefix = rng.pick(["", "", "eJ", "eJx", "2.", "2.k1.", "2.k1.eJ"]);
        yield prefix + Array.from({ length: rng.int(i % 100 === 0 ? 6000 : 300) }, () => rng.pick(alphabet)).join("");
      }
    })());
    expect(tally.ok).toBe(0);
  });

  test("30,000 mutated v1 tokens end in clean results", () => {
    decodeAll(v1AndV2, (function* () {
      for (let i = 0; i < 30_000; i++) yield mutate(rng, rng.pick(validV1));
    })());
  });

  test("30,000 mutated v2 tokens all fail (unless the mutation changed nothing)", () => {
    let unchanged = 0;
    const tally = decodeAll(v1AndV2, (function* () {
      for (let i = 0; i < 30_000; i++) {
        const original = rng.pick(validV2);
        const mutated = mutate(rng, original);
        if (mutated === original) unchanged++;
        yield mutated;
      }
    })());
    expect(tally.ok).toBe(unchanged);
  });

  test("10,000 valid zlib streams of junk JSON end in clean results", () => {
    const junk = ['{"act":', '"c"', '"t_url"', ":", ",", "}", "{", "[", "]", "null", "1e999", '"\\u0000"', '"javascript:x"', '"https://x"', '"a"', '"m"', '"u"', "true", "\"\\ud800\"", "\u00ff"];
    const enc = new TextEncoder();
    decodeAll(v1AndV2, (function* () {
      for (let i = 0; i < 10_000; i++) {
        const text = Array.from({ length: 1 + rng.int(12) }, () => rng.pick(junk)).join("");
        const bytes = i % 10 === 0 ? Uint8Array.from({ length: rng.int(200) }, () => rng.int(256)) : enc.encode(text);
        yield nativePrimitives.deflate(bytes).toBase64({ alphabet: "base64url", omitPadding: i % 2 === 0 });
      }
    })());
  });

  test("5,000 zlib bombs, unsigned and validly signed, never inflate past the cap", () => {
    // Each bomb fits in the default 4096-character token yet inflates to megabytes.
    const bombs = [new Uint8Array(2_500_000), new Uint8Array(2_500_000).fill(0x61), new TextEncoder().encode(`{"act":"c","t_url":"https://x/${"A".repeat(2_000_000)}"}`)]
      .map((raw) => nativePrimitives.deflate(raw));
    const signer = keys[0]!;
    const sign = (payload: string) => {
      const signed = `2.${signer.kid}.${payload}`;
      return `${signed}.${nativePrimitives.hmacSha256(signer.secret, new TextEncoder().encode(signed)).subarray(0, 16).toBase64({ alphabet: "base64url", omitPadding: true })}`;
    };
    const before = stats.capHits;
    const tally = decodeAll(v1AndV2, (function* () {
      for (let i = 0; i < 5_000; i++) {
        const bomb = rng.pick(bombs);
        // Cut a random tail off sometimes: a truncated bomb still inflates until its data runs out.
        const bytes = i % 3 === 0 ? bomb.subarray(0, Math.max(10, bomb.length - rng.int(bomb.length))) : bomb;
        const payload = bytes.toBase64({ alphabet: "base64url", omitPadding: true });
        yield i % 2 === 0 ? payload : sign(payload);
      }
    })());
    expect(tally.reasons["too-long"] ?? 0).toBe(0);
    expect(stats.capHits - before).toBeGreaterThan(2_000);
    expect(tally.ok).toBe(0);
  });

  test("the inflater never returned more than the cap, across every case above", () => {
    expect(stats.inflates).toBeGreaterThan(30_000);
    expect(stats.largest).toBeLessThanOrEqual(CAP);
  });
});

describe("nativePrimitives.inflate()", () => {
  test("stops a 256 MiB zlib bomb at the cap with a RangeError, quickly and without allocating it", () => {
    // zlib's maxOutputLength stops the inflater as the output passes the cap (the same holds under Deno:
    // test/e2e/cli.test.ts runs this check there too).
    const bomb = nativePrimitives.deflate(new Uint8Array(256 * 1024 * 1024));
    const rssBefore = process.memoryUsage().rss;
    const started = performance.now();
    let caught: unknown;
    try {
      nativePrimitives.inflate(bomb, 4096);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(RangeError);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024);
  });

  test("returns the data when it fits exactly, and throws a non-RangeError for a broken stream", () => {
    const data = new TextEncoder().encode("hello world");
    expect(nativePrimitives.inflate(nativePrimitives.deflate(data), data.length)).toEqual(Buffer.from(data));
    expect(() => nativePrimitives.inflate(nativePrimitives.deflate(data), data.length - 1)).toThrow(RangeError);
    let broken: unknown;
    try {
      nativePrimitives.inflate(new Uint8Array([0x78, 0x9c, 1, 2, 3]), 100);
    } catch (error) {
      broken = error;
    }
    expect(broken).toBeInstanceOf(Error);
    expect(broken).not.toBeInstanceOf(RangeError);
  });
});
