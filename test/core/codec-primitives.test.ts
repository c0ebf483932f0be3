import { describe, expect, test } from "bun:test";
import { constants, deflateSync, inflateSync } from "node:zlib";
import fc from "fast-check";
import { V2_DICTIONARY } from "../../src/core/link-dictionary.ts";
import { nativePrimitives, stockPrimitives } from "../../src/runtime/codec-primitives.ts";

// Under Bun, nativePrimitives reuses one zlib stream per direction and a cached HMAC key state; these check it
// against the stock node:zlib / node:crypto calls it replaces, on random and broken input.
const fast = nativePrimitives;
const stock = stockPrimitives;

type Outcome = { bytes: number[] } | { error: "range" | "other" };
function outcome(fn: () => Uint8Array): Outcome {
  try {
    return { bytes: [...fn()] };
  } catch (error) {
    return { error: error instanceof RangeError ? "range" : "other" };
  }
}

/** Payloads like the codec's (JSON text) and arbitrary bytes, up to a few KiB. */
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 4096 }),
  fc.string({ maxLength: 600 }).map((s) => new TextEncoder().encode(JSON.stringify({ a: "c", m: s, u: `https://x.example/${s}` }))),
  fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 3000 })).map(([s, n]) => new TextEncoder().encode(s.repeat(n))),
);

/** A zlib stream broken in one of the ways a hostile or mangled token can be. */
const broken = fc.tuple(payload, fc.nat(), fc.nat(), fc.constantFrom("flip", "truncate", "garbage-tail", "random")).map(([data, at, bits, how]) => {
  const z = deflateSync(data);
  if (how === "random") return new Uint8Array(z.length).map((_, i) => (at * 31 + bits * 17 + i * 101) & 255);
  if (how === "truncate") return z.subarray(0, at % z.length);
  if (how === "garbage-tail") return Uint8Array.from([...z, bits & 255, at & 255]);
  const out = Uint8Array.from(z);
  out[at % out.length]! ^= 1 << (bits % 8);
  return out;
});

describe("nativePrimitives against stock node:zlib and node:crypto", () => {
  test("under Bun the fast path is in use (so the rest of this file tests it)", () => {
    if ("Bun" in globalThis) expect(fast).not.toBe(stock);
  });

  test("deflate() is byte-identical to deflateSync, and stock inflateSync reads it back", () => {
    fc.assert(fc.property(payload, (data) => {
      const z = fast.deflate(data);
      expect([...z]).toEqual([...deflateSync(data)]);
      expect([...inflateSync(z)]).toEqual([...data]);
    }), { numRuns: 500 });
  });

  test("inflate() of valid streams equals inflateSync, under any cap", () => {
    fc.assert(fc.property(payload, fc.integer({ min: 0, max: 9000 }), (data, cap) => {
      const z = deflateSync(data);
      const got = outcome(() => fast.inflate(z, cap));
      expect(got).toEqual(outcome(() => stock.inflate(z, cap)));
      expect(got).toEqual(data.length <= Math.max(1, cap) ? { bytes: [...data] } : { error: "range" });
    }), { numRuns: 1000 });
  });

  test("inflate() of broken streams (flipped bits, truncation, trailing bytes, noise) refuses what inflateSync refuses", () => {
    fc.assert(fc.property(broken, fc.constantFrom(8192, 1000, 64), (z, cap) => {
      const got = outcome(() => fast.inflate(z, cap));
      const want = outcome(() => stock.inflate(z, cap));
      // The one allowed difference: a stream that inflates past the cap AND is broken further on. The stock
      // call inflates up to 16 KiB before it looks at the cap, so it may see the damage first ("other");
      // the fast path stops at the cap ("range"). Both refuse, and neither hands back more than the cap.
      if ("error" in got && got.error === "range" && "error" in want) return;
      expect(got).toEqual(want);
    }), { numRuns: 3000 });
  });

  test("a bad Adler-32 is refused as a broken stream, not as the cap", () => {
    const z = Uint8Array.from(deflateSync(new TextEncoder().encode('{"a":"o","m":"m1"}')));
    z[z.length - 1]! ^= 0x10;
    expect(outcome(() => fast.inflate(z, 8192))).toEqual({ error: "other" });
  });

  test("inflate() hands back the data exactly at the cap and refuses one byte more", () => {
    const data = new Uint8Array(8192).fill(7);
    expect(fast.inflate(deflateSync(data), 8192).length).toBe(8192);
    expect(() => fast.inflate(deflateSync(new Uint8Array(8193)), 8192)).toThrow(RangeError);
  });

  test("a 256 MiB bomb stops at the cap on the fast path, and the next call is unaffected", () => {
    const bomb = deflateSync(new Uint8Array(256 * 1024 * 1024));
    const started = performance.now();
    expect(() => fast.inflate(bomb, 8192)).toThrow(RangeError);
    expect(performance.now() - started).toBeLessThan(100);
    expect(new TextDecoder().decode(fast.inflate(deflateSync("after"), 8192))).toBe("after");
  });

  test("results are copies: a later call does not change an earlier result", () => {
    const first = fast.inflate(deflateSync("first"), 100);
    const zipped = fast.deflate(new TextEncoder().encode("first"));
    fast.inflate(deflateSync("second!"), 100);
    fast.deflate(new TextEncoder().encode("something else entirely"));
    expect(new TextDecoder().decode(first)).toBe("first");
    expect([...zipped]).toEqual([...deflateSync("first")]);
  });

  test("hmacSha256() equals createHmac for random keys and data, including a key changed in place", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 600 }), (key, data) => {
      expect([...fast.hmacSha256(key, data)]).toEqual([...stock.hmacSha256(key, data)]);
    }), { numRuns: 500 });
    // Text is taken as UTF-8, on both paths.
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.string({ maxLength: 300 }), (key, text) => {
      const bytes = new TextEncoder().encode(text);
      expect([...fast.hmacSha256(key, text)]).toEqual([...stock.hmacSha256(key, bytes)]);
      expect([...stock.hmacSha256(key, text)]).toEqual([...stock.hmacSha256(key, bytes)]);
    }), { numRuns: 300 });
    const key = new TextEncoder().encode("secret-one");
    const data = new TextEncoder().encode("2.k1.payload");
    fast.hmacSha256(key, data);
    key[0] = 0x53;
    expect([...fast.hmacSha256(key, data)]).toEqual([...stock.hmacSha256(key, data)]);
  });

  test("inputs past the reused buffers' sizes take the stock path and still agree", () => {
    const big = new TextEncoder().encode("x".repeat(40_000) + Math.random());
    expect([...fast.deflate(big)]).toEqual([...deflateSync(big)]);
    expect(fast.inflate(deflateSync(big), 1 << 20).length).toBe(big.length);
  });

  describe("with a preset dictionary (v2's compact payloads)", () => {
    const withDictionary = { dictionary: V2_DICTIONARY, fixedCodes: true };

    test("deflate() is byte-identical to deflateSync with the dictionary and Z_FIXED, and inflate() reads it back", () => {
      fc.assert(fc.property(payload, (data) => {
        const z = fast.deflate(data, withDictionary);
        expect([...z]).toEqual([...deflateSync(data, { dictionary: V2_DICTIONARY, strategy: constants.Z_FIXED })]);
        expect([...fast.inflate(z, 1 << 16, V2_DICTIONARY)]).toEqual([...data]);
        expect([...stock.inflate(z, 1 << 16, V2_DICTIONARY)]).toEqual([...data]);
      }), { numRuns: 300 });
    });

    test("calls with and without the dictionary interleave on the reused streams without mixing them up", () => {
      const data = new TextEncoder().encode('{"a":"c","m":"0000abcd","u":"https://www.example.org/?utm_source=newsletter"}');
      for (let i = 0; i < 5; i++) {
        const compact = fast.deflate(data, withDictionary);
        const plain = fast.deflate(data);
        expect([...plain]).toEqual([...deflateSync(data)]);
        expect(compact.length).toBeLessThan(plain.length);
        expect([...fast.inflate(compact, 8192, V2_DICTIONARY)]).toEqual([...data]);
        // A plain stream ignores a dictionary it does not ask for.
        expect([...fast.inflate(plain, 8192, V2_DICTIONARY)]).toEqual([...data]);
        expect([...fast.inflate(plain, 8192)]).toEqual([...data]);
      }
    });

    test("a stream that asks for a dictionary is refused (not as the cap) without it or with another", () => {
      const z = fast.deflate(new TextEncoder().encode('{"a":"o","m":"m1"}'), withDictionary);
      expect(outcome(() => fast.inflate(z, 8192))).toEqual({ error: "other" });
      expect(outcome(() => stock.inflate(z, 8192))).toEqual({ error: "other" });
      expect(outcome(() => fast.inflate(z, 8192, new TextEncoder().encode("another dictionary")))).toEqual({ error: "other" });
      // And the streams still work afterwards.
      expect(new TextDecoder().decode(fast.inflate(z, 8192, V2_DICTIONARY))).toBe('{"a":"o","m":"m1"}');
    });

    test("broken compact streams get the stock inflater's verdict, and the cap holds", () => {
      fc.assert(fc.property(payload, fc.nat(), fc.nat(), fc.constantFrom(8192, 64), (data, at, bits, cap) => {
        const z = Uint8Array.from(deflateSync(data, { dictionary: V2_DICTIONARY, strategy: constants.Z_FIXED }));
        z[at % z.length]! ^= 1 << (bits % 8);
        const got = outcome(() => fast.inflate(z, cap, V2_DICTIONARY));
        const want = outcome(() => stock.inflate(z, cap, V2_DICTIONARY));
        if ("error" in got && got.error === "range" && "error" in want) return;
        expect(got).toEqual(want);
        if ("bytes" in got) expect(got.bytes.length).toBeLessThanOrEqual(cap);
      }), { numRuns: 1000 });
    });
  });
});
