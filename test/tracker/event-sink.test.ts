/** The event sink over a real SQLite queue, wrapped to be slow or failing on demand (no store mocks). */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { openStore } from "../../src/stores/open-store.ts";
import type { EventQueue, Store } from "../../src/stores/types.ts";
import { createEventSink } from "../../src/tracker/event-sink.ts";
import { openSpool, type Spool } from "../../src/tracker/spool.ts";
import { UncertainPushError } from "../../src/stores/uncertain-push.ts";

let dir: string;
let store: Store;
let spool: Spool;
let real: EventQueue;
let behaviour: { delayMs: number; fail: boolean; calls: number[] };
let queue: EventQueue;
const lines: string[] = [];
const log = createConsola({ level: 5, reporters: [{ log: (o) => void lines.push(o.args.join(" ")) }] });

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "mtatrack-sink-"));
  store = await openStore(`sqlite:${join(dir, "s.db")}`);
  spool = openSpool({ path: join(dir, "spool"), maxBytes: 1 << 20, fsync: false });
  real = store.queue({ name: "events" });
  behaviour = { delayMs: 0, fail: false, calls: [] };
  lines.length = 0;
  queue = {
    ...real,
    claim: real.claim.bind(real),
    ack: real.ack.bind(real),
    stats: real.stats.bind(real),
    async push(bodies) {
      behaviour.calls.push(bodies.length);
      const { delayMs, fail } = behaviour;
      if (delayMs) await Bun.sleep(delayMs);
      if (fail) throw new Error("store down (test)");
      return await real.push(bodies);
    },
  };
});
afterEach(async () => {
  spool.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function queued(): Promise<string[]> {
  const got = await real.claim("t", { max: 10_000, leaseMs: 60_000 });
  return got.map((e) => e.body);
}
const bodies = (n: number, from = 0) => Array.from({ length: n }, (_, i) => JSON.stringify({ event_id: String(from + i) }));

describe("createEventSink()", () => {
  test("no push carries more than maxBatch, pushes in flight stay under maxInFlight, and the queue keeps submission order", async () => {
    behaviour.delayMs = 20;
    let inFlight = 0;
    let most = 0;
    const counting: EventQueue = { ...queue, async push(b) {
      most = Math.max(most, ++inFlight);
      try {
        return await queue.push(b);
      } finally {
        inFlight--;
      }
    } };
    const sink = createEventSink({ queue: counting, spool, log, ping: () => store.ping(), maxBatch: 7, maxInFlight: 2 });
    const all = bodies(100);
    // Half in one turn, the rest while those pushes are in flight: they join the waiting batches.
    const first = all.slice(0, 50).map((b) => sink.submit(b));
    await Bun.sleep(5);
    const outcomes = await Promise.all([...first, ...all.slice(50).map((b) => sink.submit(b))]);
    expect(outcomes.every((o) => o === "queued")).toBe(true);
    expect(Math.max(...behaviour.calls)).toBeLessThanOrEqual(7);
    expect(behaviour.calls.reduce((a, b) => a + b, 0)).toBe(100);
    expect(most).toBeLessThanOrEqual(2);
    expect(await queued()).toEqual(all);
    await sink.close();
  });

  test("concurrent submissions are group-committed into few pushes, each answered queued", async () => {
    const sink = createEventSink({ queue, spool, log, ping: () => store.ping() });
    const outcomes = await Promise.all(bodies(200).map((b) => sink.submit(b)));
    expect(outcomes.every((o) => o === "queued")).toBe(true);
    expect(behaviour.calls.length).toBeLessThan(10);
    expect(await queued()).toEqual(bodies(200));
    await sink.close();
  });

  test("submitThen(): each waiter is told once, after its batch is durable, in submission order; a waiter that throws holds up no other", async () => {
    behaviour.delayMs = 20;
    let landed = 0;
    const counting: EventQueue = { ...queue, async push(b) {
      const ids = await queue.push(b);
      landed += b.length;
      return ids;
    } };
    const sink = createEventSink({ queue: counting, spool, log, ping: () => store.ping() });
    const told: string[] = [];
    const all = bodies(30);
    const done = new Promise<void>((resolve) => {
      all.forEach((body, i) =>
        sink.submitThen(body, {
          settled(outcome) {
            // The waiter's own event has landed by the time it is told.
            told.push(`${i}:${outcome}:${landed > i}`);
            if (i === 3) throw new Error("waiter failure (test)");
            if (told.length === all.length) resolve();
          },
        }));
    });
    // Told from the sink's own turn, never during submitThen.
    expect(told).toEqual([]);
    await done;
    expect(told).toEqual(all.map((_, i) => `${i}:queued:true`));
    expect(await queued()).toEqual(all);
    expect(lines.some((l) => l.includes("Unexpected error after an event was queued") && l.includes("waiter failure (test)"))).toBe(true);
    await sink.close();
  });

  test("after close, submit() and submitThen() spool the event at once and answer spooled", async () => {
    const sink = createEventSink({ queue, spool, log, ping: () => store.ping() });
    await sink.close();
    const told: string[] = [];
    sink.submitThen(bodies(1)[0]!, { settled: (outcome) => void told.push(outcome) });
    expect(told).toEqual(["spooled"]);
    expect(await sink.submit(bodies(1, 1)[0]!)).toBe("spooled");
    expect(spool.peek(10).bodies).toEqual(bodies(2));
    expect(behaviour.calls).toEqual([]);
  });

  test("without a window, events of later turns wait while four pushes are in flight and then go together", async () => {
    behaviour.delayMs = 40;
    const sink = createEventSink({ queue, spool, log, ping: () => store.ping() });
    const submitted: Promise<string>[] = [];
    // One event per event-loop turn: each of the first four turns starts a push of its own, the rest
    // arrive while all four are busy and leave in one batch when the first push returns.
    for (const body of bodies(12)) {
      submitted.push(sink.submit(body));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await Promise.all(submitted)).toEqual(Array(12).fill("queued"));
    expect(behaviour.calls).toEqual([1, 1, 1, 1, 8]);
    expect(await queued()).toEqual(bodies(12));
    await sink.close();
  });

  test("a failing store: events are spooled, then replayed in order once it is back", async () => {
    const sink = createEventSink({ queue, spool, log, ping: () => (behaviour.fail ? Promise.reject(new Error("down")) : store.ping()), replayIntervalMs: 20 });
    expect(await sink.submit(bodies(1)[0]!)).toBe("queued");
    behaviour.fail = true;
    const during = await Promise.all(bodies(50, 1).map((b) => sink.submit(b)));
    expect(during.every((o) => o === "spooled")).toBe(true);
    expect(sink.degraded).toBe(true);
    behaviour.fail = false;
    // Submitted while the spool still holds records: they queue up behind them, keeping hit order.
    const after = await Promise.all(bodies(10, 51).map((b) => sink.submit(b)));
    expect(after.every((o) => o === "spooled" || o === "queued")).toBe(true);
    await sink.drain(5000);
    expect(spool.stats().records).toBe(0);
    expect(await queued()).toEqual(bodies(61));
    expect(lines.some((l) => l.includes("Store failed, spooling events locally"))).toBe(true);
    await sink.close();
  });

  test("a push that times out and lands late is not replayed: each event reaches the queue once", async () => {
    const sink = createEventSink({ queue, spool, log, ping: () => store.ping(), timeoutMs: 50, replayIntervalMs: 20 });
    behaviour.delayMs = 300; // slower than the timeout, but it does succeed
    const outcomes = await Promise.all(bodies(20).map((b) => sink.submit(b)));
    expect(outcomes.every((o) => o === "spooled")).toBe(true);
    behaviour.delayMs = 0;
    await Bun.sleep(400); // the slow push lands
    await sink.drain(5000);
    expect(spool.stats().records).toBe(0);
    expect((await queued()).sort()).toEqual(bodies(20).sort());
    expect(lines.some((l) => l.includes("reached the store late"))).toBe(true);
    await sink.close();
  });

  test("a failed push that had landed (its answer lost) is not replayed; one that had not is, once the store can say which", async () => {
    // Each push lands or not as `landNext` says, then fails as if the connection broke before the answer.
    // The store can be asked only once `reachable` is true, as a real one can only once it is back.
    let landNext = true;
    let reachable = false;
    const asked: boolean[] = [];
    const breaking: EventQueue = {
      ...queue,
      async push(pushed) {
        if (behaviour.fail) {
          const landed = landNext;
          landNext = !landNext;
          if (landed) await real.push(pushed);
          throw new UncertainPushError("connection lost (test)", async () => {
            if (!reachable) throw new Error("still down (test)");
            asked.push(landed);
            return landed ? pushed : [];
          });
        }
        return await real.push(pushed);
      },
    };
    const sink = createEventSink({ queue: breaking, spool, log, ping: () => (reachable ? store.ping() : Promise.reject(new Error("down"))),
      replayIntervalMs: 20, maxBatch: 2 });
    behaviour.fail = true;
    // Two pushes in flight together: the first lands (its answer lost), the second does not; both are spooled.
    expect(await Promise.all(bodies(4).map((b) => sink.submit(b)))).toEqual(Array(4).fill("spooled"));
    expect(spool.stats().records).toBe(4);
    behaviour.fail = false;
    await Bun.sleep(100); // the replayer tries while the store still cannot answer, and replays nothing
    expect(spool.stats().records).toBe(4);
    reachable = true;
    await sink.drain(5000);
    expect(spool.stats().records).toBe(0);
    expect(asked.sort()).toEqual([false, true]); // both asked, once each
    expect(await queued()).toEqual(bodies(4)); // each once, in hit order
    expect(lines.some((l) => l.includes("whose answer was lost had reached the store"))).toBe(true);
    await sink.close();
  });

  test("a full spool drops events with a clear log line, and the response is still not held", async () => {
    spool.close();
    spool = openSpool({ path: join(dir, "small.spool"), maxBytes: 1024, fsync: false });
    const sink = createEventSink({ queue, spool, log, ping: () => Promise.reject(new Error("down")), replayIntervalMs: 10_000 });
    behaviour.fail = true;
    const outcomes: string[] = [];
    for (const b of bodies(200)) outcomes.push(await sink.submit(b));
    expect(outcomes).toContain("spooled");
    expect(outcomes).toContain("dropped");
    expect(lines.filter((l) => l.startsWith("Spool full")).length).toBe(1); // rate-limited
    await sink.close();
  });
});
