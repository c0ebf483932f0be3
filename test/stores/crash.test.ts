/**
 * @module Crash tests with real child processes on both backends: a consumer SIGKILLed between claim and ack,
 * and 100,000 events from 4 producer processes drained by 2 consumer processes (one of them killed midway).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../src/stores/open-store.ts";
import { describeWithRedis, redisUrlWith } from "../helpers/redis-server.ts";

const fixture = (name: string) => join(import.meta.dir, "fixtures", name);
const spawnFixture = (name: string, args: string[]) =>
  Bun.spawn([process.execPath, fixture(name), ...args], { stdout: "pipe", stderr: "inherit" });

/** Reads a child's stdout line by line as it arrives. */
function collectLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  return (async () => {
    const decoder = new TextDecoder();
    let rest = "";
    const reader = stream.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = rest.indexOf("\n")) >= 0) {
        onLine(rest.slice(0, nl));
        rest = rest.slice(nl + 1);
      }
    }
    if (rest) onLine(rest);
  })();
}

function crashSuite(name: string, freshUrl: () => string): void {
  describe(`${name}: crashes`, () => {
    test("a consumer SIGKILLed between claim and ack: its events are delivered again after the lease", async () => {
      const url = freshUrl();
      const store = await openStore(url);
      try {
        const q = store.queue({ name: "events" });
        const pushed = await q.push(["a", "b", "c", "d"]);
        const child = spawnFixture("claim-and-hang.ts", [url, "events", "3", "1000"]);
        let claimedIds: string[] = [];
        const reader = child.stdout.getReader();
        const { value } = await reader.read();
        claimedIds = JSON.parse(new TextDecoder().decode(value)) as string[];
        expect(claimedIds).toEqual(pushed.slice(0, 3));
        child.kill("SIGKILL");
        await child.exited;
        // Before the lease ends only the unclaimed one is available; after it, the dead consumer's three come back.
        const d = await q.claim("survivor", { max: 10, leaseMs: 1000 });
        expect(d.map((e) => e.body)).toEqual(["d"]);
        await q.ack(d.map((e) => e.id));
        await Bun.sleep(1100);
        const again = await q.claim("survivor", { max: 10, leaseMs: 1000 });
        expect(again.map((e) => [e.id, e.body, e.deliveries])).toEqual([[pushed[0], "a", 2], [pushed[1], "b", 2], [pushed[2], "c", 2]]);
      } finally {
        await store.close();
      }
    }, 20_000);

    test("two consumer processes draining one queue in parallel never get the same event (no kills: no duplicates)", async () => {
      const url = freshUrl();
      const store = await openStore(url);
      const q = store.queue({ name: "excl" });
      const seen = new Map<string, number>();
      // Both consumers are up and polling before the first push, and pause 2 ms per batch, so both take part.
      const consumers = ["x1", "x2"].map((c) => spawnFixture("consumer.ts", [url, "excl", c, "60000", "2"]));
      const perConsumer = [0, 0];
      const reading = consumers.map((c, k) => collectLines(c.stdout, (line) => {
        if (!line) return;
        perConsumer[k]!++;
        seen.set(line, (seen.get(line) ?? 0) + 1);
      }));
      await Bun.sleep(1500);
      for (let i = 0; i < 20_000; i += 500) await q.push(Array.from({ length: 500 }, (_, j) => `e:${i + j}`));
      await store.kv.setMany([["excl:done", "1"]], { ttlSeconds: 600 });
      await Promise.all(reading);
      expect(await Promise.all(consumers.map((c) => c.exited))).toEqual([0, 0]);
      await store.close();
      expect(seen.size).toBe(20_000);
      expect([...seen.values()].filter((n) => n > 1)).toEqual([]);
      expect(perConsumer[0]).toBeGreaterThan(0);
      expect(perConsumer[1]).toBeGreaterThan(0);
    }, 60_000);

    test("100,000 events from 4 producer processes, 2 consumer processes (one killed and replaced): none lost", async () => {
      const url = freshUrl();
      const perProducer = 25_000;
      const total = 4 * perProducer;
      const leaseMs = "1500";
      const seen = new Map<string, number>();
      const onLine = (line: string) => {
        if (line) seen.set(line, (seen.get(line) ?? 0) + 1);
      };
      // c1 pauses between claim and ack, so the kill below almost surely lands inside a batch.
      const consumers = [["c1", "5"], ["c2", "0"]].map(([c, delay]) => spawnFixture("consumer.ts", [url, "crash", c!, leaseMs, delay!]));
      const reading = consumers.map((c) => collectLines(c.stdout, onLine));
      const producers = [0, 1, 2, 3].map((p) => spawnFixture("producer.ts", [url, "crash", `p${p}`, String(perProducer), "100"]));

      // Kill one consumer once a fair share is through, then start a replacement, as a restarted feeder would.
      while (seen.size < total * 0.3) await Bun.sleep(20);
      consumers[0]!.kill("SIGKILL");
      await consumers[0]!.exited;
      const replacement = spawnFixture("consumer.ts", [url, "crash", "c3", leaseMs]);
      reading.push(collectLines(replacement.stdout, onLine));

      expect(await Promise.all(producers.map((p) => p.exited))).toEqual([0, 0, 0, 0]);
      const store = await openStore(url);
      await store.kv.setMany([["crash:done", "1"]], { ttlSeconds: 600 });
      expect(await Promise.all([consumers[1]!.exited, replacement.exited])).toEqual([0, 0]);
      await Promise.all(reading);
      const stats = await store.queue({ name: "crash" }).stats();
      await store.close();

      const missing: string[] = [];
      for (let p = 0; p < 4; p++) for (let i = 0; i < perProducer; i++) if (!seen.has(`p${p}:${i}`)) missing.push(`p${p}:${i}`);
      const duplicates = [...seen.values()].reduce((n, c) => n + c - 1, 0);
      console.log(`${name}: ${total} events, ${seen.size} distinct delivered, ${missing.length} lost, ${duplicates} duplicates`);
      expect(missing).toEqual([]);
      expect(seen.size).toBe(total);
      expect(stats.depth).toBe(0);
    }, 90_000);
  });
}

const dir = mkdtempSync(join(tmpdir(), "mtatrack-crash-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
crashSuite("sqlite", () => `sqlite:${join(dir, `crash-${++n}.db`)}`);

describeWithRedis("redis", (redis) => {
  let m = 0;
  crashSuite("redis", () => redisUrlWith(redis().url, { prefix: `crash${process.pid}-${++m}:` }));
});
