import { describe, expect, test } from "bun:test";
import { BatchBuilder, sparkPostMaxBytes, utf8ByteLength } from "../../src/core/batcher.ts";
import { backoffDelayMs, parseRetryAfter } from "../../src/core/backoff.ts";
import { verdictForStatus, sparkPostErrorMessage, type VerdictKind } from "../../src/core/delivery-verdict.ts";

describe("BatchBuilder", () => {
  test("closes before an item would make the batch reach maxBytes (the original's >= rule)", () => {
    const b = new BatchBuilder<number>({ maxBytes: 10, maxCount: 100, maxAgeMs: 1000 });
    expect(b.add(1, 5, 0).closed).toEqual([]);
    expect(b.add(2, 4, 0).closed).toEqual([]);
    expect(b.add(3, 1, 0).closed).toEqual([{ items: [1, 2], bytes: 9, openedAt: 0 }]);
  });
  test("12,000 lines of 500 bytes make exactly two SparkPost batches", () => {
    const b = new BatchBuilder<number>({ maxBytes: sparkPostMaxBytes, maxCount: 100_000, maxAgeMs: 30_000 });
    const closed = [];
    for (let i = 0; i < 12_000; i++) closed.push(...b.add(i, 500, 0).closed);
    closed.push(b.flush()!);
    expect(closed.map((x) => x.items.length)).toEqual([10_485, 1_515]);
  });
  test("closes at maxCount", () => {
    const b = new BatchBuilder<number>({ maxBytes: 1e9, maxCount: 2, maxAgeMs: 1000 });
    b.add(1, 1, 0);
    expect(b.add(2, 1, 0).closed[0]!.items).toEqual([1, 2]);
    expect(b.size).toBe(0);
  });
  test("aged(): empty never, young not, at or past maxAge yes (the original's AgedContent)", () => {
    const b = new BatchBuilder<number>({ maxBytes: 1e9, maxCount: 100, maxAgeMs: 1000 });
    expect(b.aged(5000)).toBe(false);
    b.add(1, 1, 100);
    expect([b.aged(1099), b.aged(1100), b.aged(9999)]).toEqual([false, true, true]);
    expect(b.deadline()).toBe(1100);
  });
  test("an aged batch closes on the next add even under sustained load", () => {
    const b = new BatchBuilder<number>({ maxBytes: 1e9, maxCount: 1e6, maxAgeMs: 1000 });
    b.add(1, 1, 0);
    expect(b.add(2, 1, 1000).closed[0]!.items).toEqual([1]);
    expect(b.deadline()).toBe(2000);
  });
  test("an item at or over maxBytes alone is reported oversized, not added", () => {
    const b = new BatchBuilder<number>({ maxBytes: 10, maxCount: 100, maxAgeMs: 1000 });
    expect(b.add(1, 10, 0)).toEqual({ closed: [], oversized: true });
    expect(b.size).toBe(0);
  });
  test("utf8ByteLength() matches TextEncoder", () => {
    for (const s of ["", "abc", "é", "€", "😀", "a\ud800b", "\udc00"]) expect(utf8ByteLength(s)).toBe(new TextEncoder().encode(s).length);
  });
});

describe("backoff", () => {
  test("backoffDelayMs() doubles up to the ceiling, jitter within the upper half", () => {
    const lo = [0, 1, 2, 10].map((a) => backoffDelayMs(a, { baseMs: 100, maxMs: 1000, random: () => 0 }));
    const hi = [0, 1, 2, 10].map((a) => backoffDelayMs(a, { baseMs: 100, maxMs: 1000, random: () => 0.999999 }));
    expect(lo).toEqual([50, 100, 200, 500]);
    expect(hi).toEqual([100, 200, 400, 1000]);
  });
  const retryAfter: { name: string; value: string | null; ms: number | null }[] = [
    { name: "seconds", value: "7", ms: 7000 },
    { name: "zero", value: "0", ms: 0 },
    { name: "HTTP-date in the future", value: new Date(10_000).toUTCString(), ms: 10_000 },
    { name: "HTTP-date in the past", value: new Date(0).toUTCString(), ms: 0 },
    { name: "huge is clamped to an hour", value: "999999999", ms: 3_600_000 },
    { name: "garbage", value: "soon", ms: null },
    { name: "absent", value: null, ms: null },
  ];
  for (const c of retryAfter) test(`parseRetryAfter() ${c.name}`, () => expect(parseRetryAfter(c.value, 0)).toBe(c.ms));
});

describe("verdictForStatus()", () => {
  const cases: { name: string; status: number; kind: VerdictKind }[] = [
    { name: "200 accepted", status: 200, kind: "accepted" },
    { name: "202 accepted", status: 202, kind: "accepted" },
    { name: "400 rejected", status: 400, kind: "reject" },
    { name: "422 rejected", status: 422, kind: "reject" },
    { name: "401 retried (fix the key, nothing lost)", status: 401, kind: "retry" },
    { name: "404 retried (fix the URL)", status: 404, kind: "retry" },
    { name: "408 retried", status: 408, kind: "retry" },
    { name: "413 split", status: 413, kind: "split" },
    { name: "429 retried", status: 429, kind: "retry" },
    { name: "500 retried", status: 500, kind: "retry" },
    { name: "503 retried", status: 503, kind: "retry" },
  ];
  for (const c of cases) test(c.name, () => expect(verdictForStatus(c.status)).toBe(c.kind));
  test("sparkPostErrorMessage() reads errors[0]", () => {
    expect(sparkPostErrorMessage('{"errors":[{"message":"bad","description":"why"}]}')).toBe("bad: why");
    expect(sparkPostErrorMessage('{"results":{"id":"x"}}')).toBeNull();
    expect(sparkPostErrorMessage("<html>")).toBeNull();
  });
});

describe("BatchBuilder properties", () => {
  test("every item lands in exactly one batch, in order, within the byte, count and age limits", async () => {
    const fc = await import("fast-check");
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 120 }), fc.integer({ min: 0, max: 50 })), { maxLength: 300 }),
        fc.integer({ min: 20, max: 400 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 200 }),
        (steps, maxBytes, maxCount, maxAgeMs) => {
          const b = new BatchBuilder<number>({ maxBytes, maxCount, maxAgeMs });
          const out: { items: number[]; bytes: number; openedAt: number }[] = [];
          const oversized: number[] = [];
          const sizes = new Map<number, number>();
          const times = new Map<number, number>();
          let now = 0;
          steps.forEach(([bytes, dt], i) => {
            now += dt;
            sizes.set(i, bytes);
            times.set(i, now);
            const r = b.add(i, bytes, now);
            if (r.oversized) oversized.push(i);
            out.push(...r.closed);
          });
          const last = b.flush();
          if (last) out.push(last);
          const seen = [...out.flatMap((x) => x.items), ...oversized].sort((x, y) => x - y);
          expect(seen).toEqual(steps.map((_, i) => i));
          for (const batch of out) {
            expect(batch.items.length).toBeGreaterThan(0);
            expect(batch.items.length).toBeLessThanOrEqual(maxCount);
            expect(batch.bytes).toBeLessThan(maxBytes);
            expect(batch.bytes).toBe(batch.items.reduce((n, i) => n + sizes.get(i)!, 0));
            for (let k = 1; k < batch.items.length; k++) expect(batch.items[k]!).toBeGreaterThan(batch.items[k - 1]!);
            // Nothing joins a batch at or after its deadline.
            expect(times.get(batch.items[0]!)).toBe(batch.openedAt);
            for (const i of batch.items.slice(1)) expect(times.get(i)!).toBeLessThan(batch.openedAt + maxAgeMs);
          }
          for (const i of oversized) expect(sizes.get(i)!).toBeGreaterThanOrEqual(maxBytes);
        },
      ),
      { numRuns: 300 },
    );
  });
});
