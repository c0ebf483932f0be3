/** The feeder under failure: SIGKILL mid-batch (a real child process), two feeders on one Redis, a long endpoint outage. */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { TrackingEvent } from "../../src/core/event.ts";
import { toSparkPostEvent } from "../../src/core/sparkpost-event.ts";
import { startFeeder } from "../../src/feeder/feeder.ts";
import { createSparkPostSink } from "../../src/feeder/sparkpost-sink.ts";
import { openStore } from "../../src/stores/open-store.ts";
import type { Store } from "../../src/stores/types.ts";
import { describeWithRedis, startRedis, type RedisServer } from "../helpers/redis-server.ts";
import { freshStore, makeEvent, until } from "./_fixtures.ts";
import { startIngestServer, type IngestServer } from "./_ingest-server.ts";

const main = join(import.meta.dir, "../../src/main.ts");

async function push(store: Store, events: readonly TrackingEvent[]) {
  await store.queue({ name: "events" }).push(events.map((e) => JSON.stringify(e)));
}

/** Every event arrived at least once, and every copy is the exact line for its event_id. */
function expectAllDeliveredIdentically(server: IngestServer, events: readonly TrackingEvent[]) {
  const expected = new Map(events.map((e) => [e.event_id, JSON.stringify(toSparkPostEvent(e, null))]));
  const lines = server.accepted.flatMap((b) => b.lines);
  const seen = new Set<string>();
  for (const line of lines) {
    const id = (JSON.parse(line) as { msys: { track_event: { event_id: string } } }).msys.track_event.event_id;
    expect(line).toBe(expected.get(id)!);
    seen.add(id);
  }
  expect(seen.size).toBe(events.length);
  return { copies: lines.length, distinct: seen.size };
}

function spawnFeeder(storeUrl: string, server: IngestServer, extra: string[] = []) {
  return Bun.spawn(["bun", main, "feeder", "--store", storeUrl, "--sink", "sparkpost", "--lease", "2s", "--batch-age", "200ms", "--batch-size", "500", ...extra], {
    env: { ...process.env, SPARKPOST_API_KEY_INGEST: "test-key", SPARKPOST_HOST_INGEST: server.url, MTATRACK_LOG_LEVEL: "warn" },
    stdout: "ignore",
    stderr: "pipe",
  });
}

function crashSuite(kind: "sqlite" | "redis", redis?: () => RedisServer) {
  let cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c();
    cleanups = [];
  });

  test("a feeder killed with SIGKILL mid-batch loses nothing: the next one delivers the rest, duplicates identical", async () => {
    const { store, url, cleanup } = await freshStore(kind, redis?.().url);
    // Slow answers, so that batches are in flight (sent, maybe even recorded, not yet answered) at the kill.
    const server = await startIngestServer({ answer: () => ({ status: 200, delayMs: 150 }) });
    cleanups.push(cleanup, () => server.stop());
    const events = Array.from({ length: 6000 }, (_, i) => makeEvent(i, { rcpt: null }));
    await push(store, events);
    const first = spawnFeeder(url, server, ["--concurrency", "2"]);
    cleanups.push(async () => { first.kill("SIGKILL"); await first.exited; });
    await until(() => server.accepted.length >= 2 && server.requests > server.accepted.length, "batches in flight", 30_000);
    first.kill("SIGKILL");
    await first.exited;
    await Bun.sleep(200); // answers to requests sent before the kill are recorded by the endpoint all the same
    expect(new Set(server.events().map((e) => e.event_id)).size).toBeLessThan(6000);
    const second = spawnFeeder(url, server);
    cleanups.push(async () => { second.kill("SIGKILL"); await second.exited; });
    await until(() => new Set(server.events().map((e) => e.event_id)).size === 6000, "all 6000 events", 60_000);
    second.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    expectAllDeliveredIdentically(server, events);
    expect(server.violations).toEqual([]);
  }, 90_000);
}

describe("feeder crash on SQLite", () => crashSuite("sqlite"));
describeWithRedis("feeder crash on Redis", (redis) => {
  crashSuite("redis", redis);
  let cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c();
    cleanups = [];
  });

  test("two feeders on one Redis share the work: every event delivered exactly once", async () => {
    const { store, url, cleanup } = await freshStore("redis", redis().url);
    const second = await openStore(url);
    const server = await startIngestServer({ answer: () => ({ status: 200, delayMs: 5 }) });
    cleanups.push(cleanup, () => second.close(), () => server.stop());
    const requestsBy = { a: 0, b: 0 };
    const sink = (who: "a" | "b") => createSparkPostSink({
      url: `${server.url}/api/v1/ingest/events`, apiKey: "test-key", limits: { maxBytes: 5 * 1024 * 1024, maxCount: 200, maxAgeMs: 100 },
      fetch: (u, init) => { requestsBy[who]++; return fetch(u, init); },
    });
    const a = startFeeder({ store, sinks: [sink("a")], consumer: "a", idleWaitMs: 50 });
    const b = startFeeder({ store: second, sinks: [sink("b")], consumer: "b", idleWaitMs: 50 });
    cleanups.push(() => a.close(), () => b.close());
    const events = Array.from({ length: 20_000 }, (_, i) => makeEvent(i, { rcpt: null }));
    for (let i = 0; i < events.length; i += 1000) {
      await push(store, events.slice(i, i + 1000));
      await Bun.sleep(5);
    }
    await until(() => server.events().length >= 20_000, "20,000 events", 60_000);
    await Bun.sleep(300);
    const { copies } = expectAllDeliveredIdentically(server, events);
    expect(copies).toBe(20_000);
    expect(requestsBy.a).toBeGreaterThan(0);
    expect(requestsBy.b).toBeGreaterThan(0);
  }, 90_000);

  // A full minute, as the issue asks, on the multi-host backend; the SQLite variant in feeder.test.ts is shorter.
  // The retry ceiling is lowered to 5 s so that recovery is seen within seconds of the endpoint's return.
  test("the endpoint down for a minute under load: everything is delivered once it returns", async () => {
    const outageMs = Number(process.env.MTATRACK_TEST_OUTAGE_MS ?? 60_000);
    const { store, cleanup } = await freshStore("redis", redis().url);
    const server = await startIngestServer();
    cleanups.push(cleanup, () => server.stop());
    const feeder = startFeeder({
      store, consumer: "a", idleWaitMs: 100, leaseMs: 10_000, backoff: { baseMs: 200, maxMs: 5_000 },
      sinks: [createSparkPostSink({ url: `${server.url}/api/v1/ingest/events`, apiKey: "test-key", limits: { maxBytes: 5 * 1024 * 1024, maxCount: 1000, maxAgeMs: 500 } })],
    });
    cleanups.push(() => feeder.close());
    const events: TrackingEvent[] = [];
    let n = 0;
    const produce = async (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const chunk = Array.from({ length: 20 }, () => makeEvent(n++, { rcpt: null }));
        events.push(...chunk);
        await push(store, chunk);
        await Bun.sleep(100);
      }
    };
    await produce(1000);
    await server.stop();
    await produce(outageMs);
    const duringOutage = server.events().length;
    server.start();
    await produce(1000);
    await until(() => new Set(server.events().map((e) => e.event_id)).size === events.length, `all ${events.length} events`, 60_000);
    expect(duringOutage).toBeLessThan(events.length);
    expectAllDeliveredIdentically(server, events);
  }, 180_000);

  test("Redis killed and restarted mid-run: the feeder resumes and delivers everything", async () => {
    const own = await startRedis({ appendonly: true });
    if (!own.owned) return; // REDIS_URL points at a server this test may not kill
    const store = await openStore(`${own.url}/0`);
    const server = await startIngestServer({ answer: () => ({ status: 200, delayMs: 50 }) });
    cleanups.push(() => own.stop(), () => store.close(), () => server.stop());
    const events = Array.from({ length: 4000 }, (_, i) => makeEvent(i, { rcpt: null }));
    await push(store, events);
    const feeder = startFeeder({
      store, consumer: "a", idleWaitMs: 100, backoff: { baseMs: 100, maxMs: 1000 },
      sinks: [createSparkPostSink({ url: `${server.url}/api/v1/ingest/events`, apiKey: "test-key", limits: { maxBytes: 5 << 20, maxCount: 200, maxAgeMs: 200 } })],
    });
    cleanups.push(() => feeder.close());
    await until(() => server.accepted.length >= 2, "first batches");
    await own.kill();
    await Bun.sleep(2000);
    await own.restart();
    await until(() => new Set(server.events().map((e) => e.event_id)).size === 4000, "all 4000 events", 60_000);
    expectAllDeliveredIdentically(server, events);
  }, 90_000);
});
