/** The feeder's dead-letter push across a lost answer, over a real SQLite queue made to fail after landing. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Deliverer } from "../../src/feeder/delivery.ts";
import { deadLettersQueue } from "../../src/feeder/feeder.ts";
import { replayDeadLetters } from "../../src/feeder/replay.ts";
import { FeederMetrics } from "../../src/feeder/metrics.ts";
import type { Sink } from "../../src/feeder/sink.ts";
import { silentLogger } from "../../src/log.ts";
import { openStore } from "../../src/stores/open-store.ts";
import type { EventQueue, Store } from "../../src/stores/types.ts";
import { UncertainPushError } from "../../src/stores/uncertain-push.ts";

let dir: string;
let store: Store;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "mtatrack-dl-"));
  store = await openStore(`sqlite:${join(dir, "s.db")}`);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const sink: Sink = {
  name: "test-sink",
  limits: { maxCount: 10, maxBytes: 1 << 20, maxAgeMs: 1000 },
  format: () => "",
  deliver: () => Promise.reject(new Error("not used")),
  close: () => Promise.resolve(),
};

for (const landed of [true, false]) {
  test(`a dead letter whose push ${landed ? "landed" : "did not land"} before its answer was lost is stored once`, async () => {
    const real = store.queue({ name: "dead-letters" });
    let pushes = 0;
    const breaking: EventQueue = {
      ...real,
      claim: real.claim.bind(real),
      ack: real.ack.bind(real),
      stats: real.stats.bind(real),
      async push(bodies) {
        if (pushes++ > 0) return await real.push(bodies);
        if (landed) await real.push(bodies);
        throw new UncertainPushError("connection lost (test)", async () => (landed ? bodies : []));
      },
    };
    const deliverer = new Deliverer({ sink, deadLetters: breaking, signal: new AbortController().signal, now: () => 1, random: () => 0,
      sleep: () => Promise.resolve(), log: silentLogger, metrics: new FeederMetrics() });
    expect(await deliverer.deadLetter([{ body: '{"event_id":"e1"}' }], { kind: "rejected", reason: "test", status: 400 })).toBe(true);
    const letters = await real.claim("t", { max: 10, leaseMs: 60_000 });
    expect(letters.map((l) => JSON.parse(l.body).records)).toEqual([['{"event_id":"e1"}']]);
    expect(pushes).toBe(landed ? 1 : 2);
  });
}

test("a replay that puts back a letter for another sink keeps it once when the push's answer is lost after it landed", async () => {
  const letter = JSON.stringify({ v: 1, sink: "other-sink", kind: "rejected", reason: "test", status: 400, at: 1, records: ['{"event_id":"e2"}'] });
  await store.queue({ name: deadLettersQueue }).push([letter]);
  // A second group, holding the original: what it claims after the replay is what the replay put back.
  const check = store.queue({ name: deadLettersQueue, group: "check" });
  expect((await check.claim("c", { max: 10, leaseMs: 60_000 })).length).toBe(1);
  let failed = false;
  const breakingStore: Store = {
    ...store,
    queue(ref) {
      const real = store.queue(ref);
      return {
        push: async (bodies) => {
          const ids = await real.push(bodies);
          if (ref.name !== deadLettersQueue || failed) return ids;
          failed = true;
          throw new UncertainPushError("connection lost (test)", async () => bodies);
        },
        claim: real.claim.bind(real),
        ack: real.ack.bind(real),
        stats: real.stats.bind(real),
      };
    },
  };
  const summary = await replayDeadLetters({ store: breakingStore, sinks: [sink], consumer: "r" });
  expect(failed).toBe(true);
  expect(summary).toMatchObject({ letters: 1, skipped: 1 });
  expect((await check.claim("c", { max: 10, leaseMs: 60_000 })).map((e) => e.body)).toEqual([letter]); // one copy, not two
});
