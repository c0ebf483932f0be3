/** The per-message memory over a real SQLite KV, wrapped to be slow on demand (no store mocks). */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/log.ts";
import { openStore } from "../../src/stores/open-store.ts";
import type { KvStore, Store } from "../../src/stores/types.ts";
import { createMessageMemory } from "../../src/tracker/message-memory.ts";

let dir: string;
let store: Store;
let slow: { ms: number };
let calls: string[];
let kv: KvStore;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "mtatrack-memory-"));
  store = await openStore(`sqlite:${join(dir, "s.db")}`);
  slow = { ms: 0 };
  calls = [];
  const real = store.kv;
  const delay = async () => {
    if (slow.ms) await Bun.sleep(slow.ms);
  };
  kv = {
    async setIfAbsent(key, opts) {
      calls.push(`setIfAbsent ${key}`);
      await delay();
      return await real.setIfAbsent(key, opts);
    },
    async setIfAbsentMany(keys, opts) {
      calls.push(`setIfAbsentMany ${keys.join(" ")}`);
      await delay();
      return await real.setIfAbsentMany(keys, opts);
    },
    async getMany(keys) {
      calls.push(`getMany ${keys.length}`);
      await delay();
      return await real.getMany(keys);
    },
    async setMany(entries, opts) {
      const list = [...entries];
      calls.push(`setMany ${list.length}`);
      await delay();
      return await real.setMany(list, opts);
    },
  };
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("createMessageMemory()", () => {
  test("isFirst() asks the store once per flag, then answers repeats from memory", async () => {
    const memory = createMessageMemory({ kv, log: silentLogger, degraded: () => false, onStoreFailure: () => {} });
    expect(await memory.isFirst("open", "m1", 1000)).toBe(true);
    expect(await memory.isFirst("initial_open", "m1", 1001)).toBe(false); // initial_open and open share the flag
    expect(await memory.isFirst("click", "m1", 1002)).toBe(true);
    expect(await memory.isFirst("click", "m1", 1003)).toBe(false);
    expect(calls.filter((c) => c.startsWith("setIfAbsent"))).toEqual(["setIfAbsentMany first:open:m1", "setIfAbsentMany first:click:m1"]);
  });

  test("first flags of one event-loop turn go to the store as one setIfAbsentMany, with one winner per flag", async () => {
    const memory = createMessageMemory({ kv, log: silentLogger, degraded: () => false, onStoreFailure: () => {} });
    await store.kv.setIfAbsent("first:open:seen", { ttlSeconds: 60 }); // another tracker's first open
    const firsts = await Promise.all([
      ...Array.from({ length: 30 }, (_, i) => memory.isFirst("open", `turn-${i}`, 1000)),
      memory.isFirst("open", "turn-0", 1001), // a repeat within the turn: answered from memory
      memory.isFirst("open", "seen", 1000),
      memory.isFirst("click", "turn-0", 1000),
    ]);
    expect(firsts).toEqual([...Array.from({ length: 30 }, () => true), false, false, true]);
    expect(calls.filter((c) => c.startsWith("setIfAbsent")).map((c) => c.split(" ").length - 1)).toEqual([32]);
  });

  test("a second tracker's memory still sees the store's flag", async () => {
    const a = createMessageMemory({ kv, log: silentLogger, degraded: () => false, onStoreFailure: () => {} });
    const b = createMessageMemory({ kv, log: silentLogger, degraded: () => false, onStoreFailure: () => {} });
    expect(await a.isFirst("open", "m2", 1000)).toBe(true);
    expect(await b.isFirst("open", "m2", 1001)).toBe(false);
  });

  test("sinceFirstEvent(): the first hit is the first event; later clicks measure from it, across trackers", async () => {
    const a = createMessageMemory({ kv, log: silentLogger, degraded: () => false, onStoreFailure: () => {} });
    a.noteEvent("m3", 10_000); // first open at t=10 s
    await Bun.sleep(20); // the batched write lands
    const b = createMessageMemory({ kv, log: silentLogger, degraded: () => false, onStoreFailure: () => {} });
    expect(await b.sinceFirstEvent("m3", 10_700)).toBe(700);
    expect(await b.sinceFirstEvent("m3", 15_000)).toBe(5000);
    expect(await a.sinceFirstEvent("fresh", 20_000)).toBeNull();
  });

  test("first-event time reads of one event-loop turn go to the store as one getMany", async () => {
    const memory = createMessageMemory({ kv, log: silentLogger, degraded: () => false, onStoreFailure: () => {} });
    await Promise.all(Array.from({ length: 50 }, (_, i) => memory.sinceFirstEvent(`batch-${i}`, 1000)));
    expect(calls.filter((c) => c.startsWith("getMany"))).toEqual(["getMany 50"]);
  });

  test("a store slower than the timeout: the hit counts as first, the failure is reported, nothing waits longer", async () => {
    const failures: unknown[] = [];
    const memory = createMessageMemory({ kv, log: silentLogger, timeoutMs: 50, degraded: () => false, onStoreFailure: (e) => failures.push(e) });
    slow.ms = 500;
    const started = performance.now();
    expect(await memory.isFirst("open", "m4", 1000)).toBe(true);
    expect(performance.now() - started).toBeLessThan(400);
    expect(failures).toHaveLength(1);
  });

  test("while degraded the store is not asked: first is decided by this process's memory", async () => {
    const memory = createMessageMemory({ kv, log: silentLogger, degraded: () => true, onStoreFailure: () => {} });
    expect(await memory.isFirst("click", "m5", 1000)).toBe(true);
    expect(await memory.isFirst("click", "m5", 1001)).toBe(false);
    expect(await memory.sinceFirstEvent("m5", 1000)).toBeNull();
    expect(await memory.sinceFirstEvent("m5", 1500)).toBe(500);
    expect(calls).toEqual([]);
  });
});
