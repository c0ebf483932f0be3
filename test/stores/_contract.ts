/** @module The one contract every store backend passes: queue semantics, KV expiry, cross-process races. */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { openStore, type OpenStoreOptions } from "../../src/stores/open-store.ts";
import type { ClaimedEvent, EventQueue, Store } from "../../src/stores/types.ts";

export interface ContractTarget {
  /** A URL for a store nobody else uses (a fresh file, a fresh key prefix); every call may return a new one. */
  freshUrl(): string;
  /** Passed to every openStore() of this run. */
  options?: OpenStoreOptions;
}

const fixture = (name: string) => join(import.meta.dir, "fixtures", name);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Claims until `want` events arrived or `ms` passed. */
async function drain(q: EventQueue, consumer: string, want: number, opts: { max?: number; leaseMs?: number; ms?: number } = {}) {
  const out: ClaimedEvent[] = [];
  const deadline = Date.now() + (opts.ms ?? 5000);
  while (out.length < want && Date.now() < deadline) {
    out.push(...(await q.claim(consumer, { max: opts.max ?? 100, leaseMs: opts.leaseMs ?? 30_000, waitMs: 50 })));
  }
  return out;
}

/** Runs the store contract against the backend `target` opens. */
export function testStoreContract(name: string, target: () => ContractTarget): void {
  describe(`${name}: store contract`, () => {
    const open: Store[] = [];
    async function fresh(url = target().freshUrl()): Promise<{ store: Store; url: string }> {
      const store = await openStore(url, target().options);
      open.push(store);
      return { store, url };
    }
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    describe("queue", () => {
      test("push() returns one id per body and claim() hands them out in push order, once", async () => {
        const { store } = await fresh();
        const q = store.queue({ name: "events" });
        const ids = await q.push(["a", "b", "c"]);
        expect(ids).toHaveLength(3);
        expect(new Set(ids).size).toBe(3);
        const got = await q.claim("c1", { max: 10, leaseMs: 30_000 });
        expect(got.map((e) => [e.id, e.body, e.deliveries])).toEqual([[ids[0], "a", 1], [ids[1], "b", 1], [ids[2], "c", 1]]);
        expect(await q.claim("c2", { max: 10, leaseMs: 30_000 })).toEqual([]);
      });

      test("a push of 300 bodies (several statements' worth) returns each body's own id, in push order", async () => {
        const { store } = await fresh();
        const q = store.queue({ name: "events" });
        await q.push(["before"]);
        const bodies = Array.from({ length: 300 }, (_, i) => `b${i}`);
        const ids = await q.push(bodies);
        const got = (await q.claim("c", { max: 1000, leaseMs: 30_000 })).slice(1);
        expect(got.map((e) => e.body)).toEqual(bodies);
        expect(got.map((e) => e.id)).toEqual(ids);
      });

      test("push([]) and ack([]) are no-ops; claim() of an empty queue is []", async () => {
        const { store } = await fresh();
        const q = store.queue({ name: "events" });
        expect(await q.push([])).toEqual([]);
        await q.ack([]);
        expect(await q.claim("c", { max: 5, leaseMs: 1000 })).toEqual([]);
      });

      test("claim() returns at most max events", async () => {
        const { store } = await fresh();
        const q = store.queue({ name: "events" });
        await q.push(["1", "2", "3", "4", "5"]);
        expect((await q.claim("c", { max: 2, leaseMs: 30_000 })).map((e) => e.body)).toEqual(["1", "2"]);
        expect((await q.claim("c", { max: 2, leaseMs: 30_000 })).map((e) => e.body)).toEqual(["3", "4"]);
      });

      test("bodies round-trip exactly (unicode, JSON, empty-ish, 64 KiB)", async () => {
        const { store } = await fresh();
        const q = store.queue({ name: "events" });
        const bodies = ["{\"a\":1}", "ünïcødé ✓ 🎉", " ", "x".repeat(65536), "line\nbreak\r\n"];
        await q.push(bodies);
        expect((await q.claim("c", { max: 10, leaseMs: 30_000 })).map((e) => e.body)).toEqual(bodies);
      });

      test("events of each producer are claimed in that producer's push order, with concurrent producers", async () => {
        const { url } = await fresh();
        const producers = await Promise.all([0, 1, 2].map(async () => (await fresh(url)).store.queue({ name: "events" })));
        await Promise.all(producers.map(async (q, p) => {
          for (let i = 0; i < 40; i += 4) await q.push([i, i + 1, i + 2, i + 3].map((n) => `${p}:${n}`));
        }));
        const { store } = await fresh(url);
        const got = await drain(store.queue({ name: "events" }), "c", 120, { max: 17 });
        expect(got).toHaveLength(120);
        for (const p of [0, 1, 2]) {
          const seq = got.filter((e) => e.body.startsWith(`${p}:`)).map((e) => Number(e.body.split(":")[1]));
          expect(seq).toEqual([...Array(40).keys()]);
        }
      });

      test("an event not acked within its lease is handed out again, with deliveries counting up", async () => {
        const { store } = await fresh();
        const q = store.queue({ name: "events" });
        const [id] = await q.push(["e"]);
        expect((await q.claim("c1", { max: 1, leaseMs: 600 }))[0]!.deliveries).toBe(1);
        expect(await q.claim("c2", { max: 1, leaseMs: 600 })).toEqual([]);
        await sleep(700);
        const again = await q.claim("c2", { max: 1, leaseMs: 600 });
        expect(again.map((e) => [e.id, e.body, e.deliveries])).toEqual([[id, "e", 2]]);
        await sleep(700);
        expect((await q.claim("c1", { max: 1, leaseMs: 600 }))[0]!.deliveries).toBe(3);
      });

      test("expired leases are handed out before new events", async () => {
        const { store } = await fresh();
        const q = store.queue({ name: "events" });
        await q.push(["old"]);
        await q.claim("c1", { max: 1, leaseMs: 200 });
        await q.push(["new"]);
        await sleep(300);
        expect((await q.claim("c2", { max: 1, leaseMs: 200 })).map((e) => e.body)).toEqual(["old"]);
      });

      test("an acked event is never handed out again, even after its lease would have expired", async () => {
        const { store } = await fresh();
        const q = store.queue({ name: "events" });
        await q.push(["a", "b"]);
        const got = await q.claim("c1", { max: 2, leaseMs: 200 });
        await q.ack([got[0]!.id]);
        await sleep(300);
        expect((await q.claim("c2", { max: 10, leaseMs: 200 })).map((e) => e.body)).toEqual(["b"]);
      });

      test("ack() ignores unknown and already-acked ids", async () => {
        const { store } = await fresh();
        const q = store.queue({ name: "events" });
        const [id] = await q.push(["a"]);
        await q.claim("c", { max: 1, leaseMs: 30_000 });
        await q.ack([id!]);
        await q.ack([id!]);
        await q.ack(["999999-0", "424242", "not-an-id", ""].filter((x) => x !== id));
        expect((await q.stats()).depth).toBe(0);
      });

      test("two consumers claiming in parallel never hold the same event, and together get all of them", async () => {
        const { url } = await fresh();
        const { store: producer } = await fresh(url);
        const total = 600;
        const pq = producer.queue({ name: "events" });
        for (let i = 0; i < total; i += 100) await pq.push(Array.from({ length: 100 }, (_, j) => String(i + j)));
        const consumers = await Promise.all(["c1", "c2"].map(async (c) => ({ c, q: (await fresh(url)).store.queue({ name: "events" }) })));
        const held = consumers.map(() => new Set<string>());
        await Promise.all(consumers.map(async ({ c, q }, k) => {
          for (;;) {
            const got = await q.claim(c, { max: 7, leaseMs: 30_000 });
            if (got.length === 0) break;
            for (const e of got) held[k]!.add(e.body);
            await sleep(0);
            await q.ack(got.map((e) => e.id));
          }
        }));
        const overlap = [...held[0]!].filter((b) => held[1]!.has(b));
        expect(overlap).toEqual([]);
        expect(held[0]!.size + held[1]!.size).toBe(total);
        expect(held[0]!.size).toBeGreaterThan(0);
        expect(held[1]!.size).toBeGreaterThan(0);
      });

      test("groups are independent: each sees every event, acks in one do not affect the other", async () => {
        const { store } = await fresh();
        const a = store.queue({ name: "events", group: "a" });
        const b = store.queue({ name: "events", group: "b" });
        // Both groups exist before the push, so retention cannot drop what b has not seen.
        expect(await b.claim("b1", { max: 1, leaseMs: 30_000 })).toEqual([]);
        await a.push(["1", "2"]);
        const ga = await a.claim("a1", { max: 10, leaseMs: 30_000 });
        await a.ack(ga.map((e) => e.id));
        expect((await b.claim("b1", { max: 10, leaseMs: 30_000 })).map((e) => e.body)).toEqual(["1", "2"]);
        expect(await a.claim("a1", { max: 10, leaseMs: 30_000 })).toEqual([]);
      });

      test("a new group starts from the oldest event still retained", async () => {
        const { store } = await fresh();
        await store.queue({ name: "events" }).push(["x", "y"]);
        expect((await store.queue({ name: "events", group: "late" }).claim("c", { max: 10, leaseMs: 30_000 })).map((e) => e.body))
          .toEqual(["x", "y"]);
      });

      test("queues with different names are separate", async () => {
        const { store } = await fresh();
        await store.queue({ name: "events" }).push(["e"]);
        await store.queue({ name: "dead-letters" }).push(["d"]);
        expect((await store.queue({ name: "dead-letters" }).claim("c", { max: 10, leaseMs: 30_000 })).map((e) => e.body)).toEqual(["d"]);
        expect((await store.queue({ name: "events" }).claim("c", { max: 10, leaseMs: 30_000 })).map((e) => e.body)).toEqual(["e"]);
      });

      test("stats() counts unacked events, leased ones, and the age of the oldest", async () => {
        const { store } = await fresh();
        const q = store.queue({ name: "events" });
        expect(await q.stats()).toEqual({ depth: 0, pending: 0, oldestAgeMs: null });
        await q.push(["1", "2", "3"]);
        await sleep(30);
        const got = await q.claim("c", { max: 2, leaseMs: 30_000 });
        let s = await q.stats();
        expect(s.depth).toBe(3);
        expect(s.pending).toBe(2);
        expect(s.oldestAgeMs).toBeGreaterThanOrEqual(20);
        await q.ack(got.map((e) => e.id));
        s = await q.stats();
        expect([s.depth, s.pending]).toEqual([1, 0]);
        await q.ack((await q.claim("c", { max: 5, leaseMs: 30_000 })).map((e) => e.id));
        expect(await q.stats()).toEqual({ depth: 0, pending: 0, oldestAgeMs: null });
      });

      test("claim() with waitMs resolves as soon as another connection pushes, and with [] when time is up", async () => {
        const { url, store } = await fresh();
        const q = store.queue({ name: "events" });
        const t0 = Date.now();
        expect(await q.claim("c", { max: 5, leaseMs: 30_000, waitMs: 150 })).toEqual([]);
        expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
        const { store: other } = await fresh(url);
        const waiting = q.claim("c", { max: 5, leaseMs: 30_000, waitMs: 5000 });
        await sleep(100);
        const t1 = Date.now();
        await other.queue({ name: "events" }).push(["late"]);
        expect((await waiting).map((e) => e.body)).toEqual(["late"]);
        expect(Date.now() - t1).toBeLessThan(1500);
      });

      test("close() while a claim waits ends the wait with []", async () => {
        const { store } = await fresh();
        const waiting = store.queue({ name: "events" }).claim("c", { max: 5, leaseMs: 30_000, waitMs: 10_000 });
        await sleep(100);
        const t0 = Date.now();
        await store.close();
        expect(await waiting).toEqual([]);
        expect(Date.now() - t0).toBeLessThan(2000);
      });
    });

    describe("kv", () => {
      test("getMany() returns values in key order, null where missing; setMany() overwrites", async () => {
        const { store } = await fresh();
        await store.kv.setMany([["msgID_a", "1"], ["msgID_b", "2"]], { ttlSeconds: 60 });
        await store.kv.setMany(new Map([["msgID_b", "3"]]), { ttlSeconds: 60 });
        expect(await store.kv.getMany(["msgID_b", "nope", "msgID_a"])).toEqual(["3", null, "1"]);
        expect(await store.kv.getMany([])).toEqual([]);
        await store.kv.setMany([], { ttlSeconds: 60 });
      });

      test("an entry is returned until its TTL and never after", async () => {
        const { store } = await fresh();
        const t0 = Date.now();
        await store.kv.setMany([["k", "v"]], { ttlSeconds: 1 });
        const set = Date.now();
        await sleep(500);
        const [mid] = await store.kv.getMany(["k"]);
        // Only meaningful when the read certainly ran before the TTL could have passed.
        if (Date.now() < t0 + 1000) expect(mid).toBe("v");
        await sleep(Math.max(0, set + 1000 - Date.now()) + 20);
        expect(await store.kv.getMany(["k"])).toEqual([null]);
      });

      test("ttlSeconds 0 means the entry never expires", async () => {
        const { store } = await fresh();
        await store.kv.setMany([["acct_headers", "{}"]], { ttlSeconds: 0 });
        expect(await store.kv.setIfAbsent("flag", { ttlSeconds: 0 })).toBe(true);
        await sleep(1100);
        expect(await store.kv.getMany(["acct_headers", "flag"])).toEqual(["{}", "1"]);
        expect(await store.kv.setIfAbsent("flag", { ttlSeconds: 0 })).toBe(false);
      });

      test("setIfAbsent() is true once, false while the key lives, and true again after it expired", async () => {
        const { store } = await fresh();
        expect(await store.kv.setIfAbsent("first:open:m1", { ttlSeconds: 1 })).toBe(true);
        expect(await store.kv.setIfAbsent("first:open:m1", { ttlSeconds: 1 })).toBe(false);
        expect(await store.kv.getMany(["first:open:m1"])).toEqual(["1"]);
        await sleep(1050);
        expect(await store.kv.setIfAbsent("first:open:m1", { ttlSeconds: 1 })).toBe(true);
      });

      test("a negative or non-finite TTL is a RangeError; a fractional one is honoured in milliseconds", async () => {
        const { store } = await fresh();
        await expect(store.kv.setMany([["k", "v"]], { ttlSeconds: -1 })).rejects.toThrow(RangeError);
        await expect(store.kv.setIfAbsent("k", { ttlSeconds: Number.NaN })).rejects.toThrow(RangeError);
        const t0 = Date.now();
        await store.kv.setMany([["half", "v"]], { ttlSeconds: 0.3 });
        const [early] = await store.kv.getMany(["half"]);
        if (Date.now() < t0 + 300) expect(early).toBe("v"); // only meaningful when the read beat the TTL
        await sleep(350);
        expect(await store.kv.getMany(["half"])).toEqual([null]);
      });

      test("setIfAbsent() raced by two processes over 300 keys: every key has exactly one winner", async () => {
        const { url } = await fresh();
        const startAt = String(Date.now() + 1500);
        const run = () =>
          Bun.spawn([process.execPath, fixture("set-if-absent.ts"), url, "race:", "300", startAt], { stdout: "pipe", stderr: "inherit" });
        const procs = [run(), run()];
        const results = await Promise.all(procs.map(async (p) => {
          const out = await new Response(p.stdout).text();
          expect(await p.exited).toBe(0);
          return JSON.parse(out) as string[];
        }));
        const all = [...results[0]!, ...results[1]!];
        expect(all).toHaveLength(300);
        expect(new Set(all).size).toBe(300);
      }, 20_000);

      test("setIfAbsentMany() answers one flag per key in order: true for absent or expired keys, false for live ones", async () => {
        const { store } = await fresh();
        expect(await store.kv.setIfAbsentMany([], { ttlSeconds: 60 })).toEqual([]);
        expect(await store.kv.setIfAbsent("first:open:b", { ttlSeconds: 60 })).toBe(true);
        await store.kv.setMany([["first:open:gone", "x"]], { ttlSeconds: 0.2 });
        await sleep(250);
        const keys = ["first:open:a", "first:open:b", "first:click:a", "first:open:gone"];
        expect(await store.kv.setIfAbsentMany(keys, { ttlSeconds: 60 })).toEqual([true, false, true, true]);
        expect(await store.kv.setIfAbsentMany(keys, { ttlSeconds: 60 })).toEqual([false, false, false, false]);
        expect(await store.kv.getMany(keys)).toEqual(["1", "1", "1", "1"]);
        expect(await store.kv.setIfAbsent("first:click:a", { ttlSeconds: 60 })).toBe(false);
      });

      const repeated = [
        { name: "a TTL", ttlSeconds: 60 },
        { name: "no TTL (0)", ttlSeconds: 0 },
      ];
      for (const { name, ttlSeconds } of repeated) {
        test(`setIfAbsentMany() with ${name}: a key repeated within one call wins only at its first position`, async () => {
          const { store } = await fresh();
          expect(await store.kv.setIfAbsentMany(["r", "s", "r", "r"], { ttlSeconds })).toEqual([true, true, false, false]);
        });
      }

      test("setIfAbsentMany() honours its TTL: a key wins again once expired, and a bad TTL is a RangeError", async () => {
        const { store } = await fresh();
        expect(await store.kv.setIfAbsentMany(["t1", "t2"], { ttlSeconds: 0.3 })).toEqual([true, true]);
        await sleep(350);
        expect(await store.kv.getMany(["t1", "t2"])).toEqual([null, null]);
        expect(await store.kv.setIfAbsentMany(["t2", "t1"], { ttlSeconds: 60 })).toEqual([true, true]);
        await expect(store.kv.setIfAbsentMany(["k"], { ttlSeconds: -1 })).rejects.toThrow(RangeError);
        await expect(store.kv.setIfAbsentMany([], { ttlSeconds: Number.POSITIVE_INFINITY })).rejects.toThrow(RangeError);
      });

      test("setIfAbsentMany() of 2,500 keys in one call (more than one chunk) answers each in order", async () => {
        const { store } = await fresh();
        const keys = Array.from({ length: 2500 }, (_, i) => `big:${i}`);
        await store.kv.setMany(keys.filter((_, i) => i % 3 === 0).map((k) => [k, "1"] as const), { ttlSeconds: 60 });
        const got = await store.kv.setIfAbsentMany(keys, { ttlSeconds: 60 });
        expect(got).toEqual(keys.map((_, i) => i % 3 !== 0));
      });

      test("setIfAbsentMany() raced by two processes over 300 keys in uneven batches: every key has exactly one winner", async () => {
        const { url } = await fresh();
        const startAt = String(Date.now() + 1500);
        const run = (batch: number) =>
          Bun.spawn([process.execPath, fixture("set-if-absent-many.ts"), url, "race-many:", "300", String(batch), startAt], {
            stdout: "pipe",
            stderr: "inherit",
          });
        const procs = [run(7), run(13)];
        const results = await Promise.all(procs.map(async (p) => {
          const out = await new Response(p.stdout).text();
          expect(await p.exited).toBe(0);
          return JSON.parse(out) as string[];
        }));
        const all = [...results[0]!, ...results[1]!];
        expect(all).toHaveLength(300);
        expect(new Set(all).size).toBe(300);
      }, 20_000);
    });

    test("ping() resolves and close() can be called twice", async () => {
      const { store } = await fresh();
      await store.ping();
      expect(store.description).not.toContain("password");
      await store.close();
      await store.close();
    });
  });
}
