/** Feeder against a real loopback ingest endpoint, on both store backends. */
import { afterEach, describe, expect, test } from "bun:test";
import { toSparkPostEvent } from "../../src/core/sparkpost-event.ts";
import type { TrackingEvent } from "../../src/core/event.ts";
import { parseDeadLetter } from "../../src/core/dead-letter.ts";
import { startFeeder, type FeederDeps, type FeederHandle } from "../../src/feeder/feeder.ts";
import { FeederMetrics } from "../../src/feeder/metrics.ts";
import { replayDeadLetters } from "../../src/feeder/replay.ts";
import { listenMetrics } from "../../src/runtime/metrics-listener.ts";
import { createSparkPostSink } from "../../src/feeder/sparkpost-sink.ts";
import type { Store } from "../../src/stores/types.ts";
import { describeWithRedis, type RedisServer } from "../helpers/redis-server.ts";
import { startIngestServer, type IngestServer, type IngestServerOptions } from "./_ingest-server.ts";
import { freshStore, makeEvent, until } from "./_fixtures.ts";

const limits = { maxBytes: 5 * 1024 * 1024, maxCount: 100_000, maxAgeMs: 200 };

function sparkpost(server: IngestServer, over: Partial<typeof limits> = {}) {
  return createSparkPostSink({ url: `${server.url}/api/v1/ingest/events`, apiKey: "test-key", limits: { ...limits, ...over } });
}

async function push(store: Store, events: readonly (TrackingEvent | string)[]) {
  const q = store.queue({ name: "events" });
  for (let i = 0; i < events.length; i += 5000) {
    await q.push(events.slice(i, i + 5000).map((e) => (typeof e === "string" ? e : JSON.stringify(e))));
  }
}

function feederSuite(kind: "sqlite" | "redis", redis?: () => RedisServer) {
  let cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c();
    cleanups = [];
  });
  async function setup(answer?: IngestServerOptions["answer"]) {
    const { store, cleanup } = await freshStore(kind, redis?.().url);
    const server = await startIngestServer({ answer });
    cleanups.push(cleanup, () => server.stop());
    return { store, server };
  }
  function run(deps: Omit<FeederDeps, "consumer"> & { consumer?: string }): FeederHandle {
    const feeder = startFeeder({ consumer: "c1", idleWaitMs: 100, backoff: { baseMs: 50, maxMs: 500 }, ...deps });
    cleanups.push(() => feeder.close());
    return feeder;
  }

  test("1 event makes 1 batch, enriched from its accounting entry", async () => {
    const { store, server } = await setup();
    const e = makeEvent(1);
    await store.kv.setMany([[`msgID_${e.msg_id}`, JSON.stringify({ rcpt: "acct@example.com", "header_x-sp-subaccount-id": "42" })]], { ttlSeconds: 60 });
    await push(store, [e]);
    run({ store, sinks: [sparkpost(server)] });
    await until(() => server.accepted.length === 1, "one batch");
    expect(server.events()).toEqual([toSparkPostEvent(e, { rcpt: "acct@example.com", "header_x-sp-subaccount-id": "42" }).msys.track_event as never]);
    expect(server.violations).toEqual([]);
    expect(server.accepted[0]!.headers["accept-encoding"]).toContain("gzip");
  });

  test("12,000 events of the original's size make exactly two batches under 5 MiB", async () => {
    const { store, server } = await setup();
    const events = Array.from({ length: 12_000 }, (_, i) => makeEvent(i, { lineBytes: 500 }));
    await push(store, events);
    run({ store, sinks: [sparkpost(server, { maxAgeMs: 1000 })] });
    await until(() => server.events().length === 12_000, "12,000 events", 30_000);
    expect(server.accepted.map((b) => b.events.length)).toEqual([10_485, 1_515]);
    expect(server.accepted[0]!.rawBytes).toBeLessThan(5 * 1024 * 1024);
    expect(server.violations).toEqual([]);
  }, 30_000);

  test("an event without a msgID_ key is still sent, rcpt_to from the link", async () => {
    const { store, server } = await setup();
    await push(store, [makeEvent(7, { rcpt: "link@example.com" })]);
    run({ store, sinks: [sparkpost(server)] });
    await until(() => server.accepted.length === 1, "one batch");
    expect(server.events()[0]).toMatchObject({ rcpt_to: "link@example.com", subaccount_id: 0 });
  });

  test("500 then 200: the batch is retried with the same event_ids and nothing is lost", async () => {
    const { store, server } = await setup((n) => (n === 0 ? { status: 500, body: "oops" } : { status: 200 }));
    const events = Array.from({ length: 50 }, (_, i) => makeEvent(i));
    await push(store, events);
    const metrics = new FeederMetrics();
    run({ store, sinks: [sparkpost(server)], metrics });
    await until(() => server.events().length === 50, "50 events");
    expect(server.requests).toBe(2);
    expect(server.events().map((e) => e.event_id)).toEqual(events.map((e) => e.event_id));
    expect(await metrics.registry.getSingleMetricAsString("mtatrack_feeder_retries_total")).toContain('reason="5xx"} 1');
  });

  test("/metrics reports queue lag, batches sent and retries per sink", async () => {
    const { store, server } = await setup((n) => (n === 0 ? { status: 503 } : { status: 200 }));
    await push(store, [makeEvent(1), makeEvent(2)]);
    const metrics = new FeederMetrics();
    const listener = await listenMetrics(() => metrics.render(), { host: "127.0.0.1", port: 0 });
    cleanups.push(() => listener.close());
    const text = async () => await (await fetch(`${listener.url}/metrics`)).text();
    metrics.watchQueue("sparkpost", store.queue({ name: "events", group: "sparkpost" }));
    expect(await text()).toContain('mtatrack_feeder_queue_lag_events{sink="sparkpost"} 2');
    run({ store, sinks: [sparkpost(server)], metrics });
    await until(() => server.accepted.length === 1, "accepted");
    await until(async () => (await text()).includes('mtatrack_feeder_queue_lag_events{sink="sparkpost"} 0'), "lag 0");
    const body = await text();
    expect(body).toContain('mtatrack_feeder_batches_sent_total{sink="sparkpost"} 1');
    expect(body).toContain('mtatrack_feeder_events_sent_total{sink="sparkpost"} 2');
    expect(body).toContain('mtatrack_feeder_retries_total{sink="sparkpost",reason="5xx"} 1');
    expect((await fetch(`${listener.url}/other`)).status).toBe(404);
  });

  test("429 with Retry-After waits that long before the next attempt", async () => {
    const times: number[] = [];
    const { store, server } = await setup((n) => {
      times.push(Date.now());
      return n === 0 ? { status: 429, headers: { "Retry-After": "1" } } : { status: 200 };
    });
    await push(store, [makeEvent(1)]);
    run({ store, sinks: [sparkpost(server)] });
    await until(() => server.accepted.length === 1, "accepted after 429");
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(950);
  });

  test("400 moves the batch to the dead letters; replay after the fix delivers it", async () => {
    let broken = true;
    const { store, server } = await setup(() => (broken ? { status: 400, body: JSON.stringify({ errors: [{ message: "invalid data format" }] }) } : { status: 200 }));
    const events = Array.from({ length: 10 }, (_, i) => makeEvent(i));
    await push(store, events);
    const feeder = run({ store, sinks: [sparkpost(server)] });
    const dlq = store.queue({ name: "dead-letters", group: "inspect" });
    await until(async () => (await dlq.stats()).depth === 1, "one dead letter");
    await until(async () => (await store.queue({ name: "events", group: "sparkpost" }).stats()).depth === 0, "events acked");
    await feeder.close();
    const [letter] = await dlq.claim("t", { max: 10, leaseMs: 1000 });
    expect(parseDeadLetter(letter!.body)).toMatchObject({ sink: "sparkpost", kind: "rejected", status: 400, reason: expect.stringContaining("invalid data format") });
    expect(parseDeadLetter(letter!.body)!.records).toHaveLength(10);
    broken = false;
    const summary = await replayDeadLetters({ store, sinks: [sparkpost(server)], consumer: "r" });
    expect(summary).toEqual({ letters: 1, delivered: 10, deadAgain: 0, skipped: 0 });
    expect(server.events().map((e) => e.event_id)).toEqual(events.map((e) => e.event_id));
    expect((await store.queue({ name: "dead-letters", group: "replay" }).stats()).depth).toBe(0);
  });

  test("a malformed queue record is dead-lettered alone; its neighbours are delivered", async () => {
    const { store, server } = await setup();
    await push(store, [makeEvent(1), '{"event_id":"1", truncated', makeEvent(2)]);
    run({ store, sinks: [sparkpost(server)] });
    await until(() => server.events().length === 2, "two good events");
    const dlq = store.queue({ name: "dead-letters", group: "inspect" });
    await until(async () => (await dlq.stats()).depth === 1, "one dead letter");
    const [letter] = await dlq.claim("t", { max: 10, leaseMs: 1000 });
    expect(parseDeadLetter(letter!.body)).toMatchObject({ kind: "malformed", records: ['{"event_id":"1", truncated'] });
  });

  test("close() sends the partial batch before the age limit", async () => {
    const { store, server } = await setup();
    await push(store, [makeEvent(1), makeEvent(2)]);
    const feeder = run({ store, sinks: [sparkpost(server, { maxAgeMs: 60_000 })] });
    await until(async () => (await store.queue({ name: "events", group: "sparkpost" }).stats()).pending === 2, "claimed");
    await feeder.close();
    expect(server.events()).toHaveLength(2);
  });

  test("close() leaves a batch the sink never answered unacked; the next feeder delivers it", async () => {
    let hang = true;
    const { store, server } = await setup(() => (hang ? { status: 200, delayMs: 3000 } : { status: 200 }));
    await push(store, [makeEvent(1)]);
    const first = startFeeder({ store, sinks: [sparkpost(server, { maxAgeMs: 0 })], consumer: "a", idleWaitMs: 50, shutdownTimeoutMs: 300, leaseMs: 1000 });
    await until(() => server.requests === 1, "first attempt");
    await first.close();
    hang = false;
    expect((await store.queue({ name: "events", group: "sparkpost" }).stats()).depth).toBe(1);
    run({ store, sinks: [sparkpost(server)], consumer: "b", leaseMs: 1000 });
    await until(() => server.requests >= 2, "redelivery");
    await until(async () => (await store.queue({ name: "events", group: "sparkpost" }).stats()).depth === 0, "acked");
  });

  test("a batch closes at its max age while events keep coming", async () => {
    const { store, server } = await setup();
    const feeder = run({ store, sinks: [sparkpost(server, { maxAgeMs: 300 })] });
    const started = Date.now();
    for (let i = 0; Date.now() - started < 1500; i++) {
      await push(store, [makeEvent(i)]);
      await Bun.sleep(10);
    }
    expect(server.accepted.length).toBeGreaterThanOrEqual(3);
    await feeder.close();
  });

  test("while events trickle in, a claim that came back short is followed by a pause, so claims carry many events", async () => {
    const { store, server } = await setup();
    // Methods of the stores use private fields: call them on the store itself, not on the proxy.
    const bound = (target: object, prop: string | symbol) => {
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    };
    /** Sizes of the non-empty claims the feeder made on the events queue, with a claim linger of `lingerMs`. */
    async function claimsWhileTrickling(lingerMs: number, from: number): Promise<number[]> {
      const sizes: number[] = [];
      const counting = new Proxy(store, {
        get(target, prop) {
          if (prop !== "queue") return bound(target, prop);
          return (ref: Parameters<Store["queue"]>[0]) => {
            const queue = target.queue(ref);
            if (ref.name !== "events") return queue;
            return new Proxy(queue, {
              get(q, p) {
                if (p !== "claim") return bound(q, p);
                return async (...args: Parameters<typeof queue.claim>) => {
                  const got = await q.claim(...args);
                  if (got.length > 0) sizes.push(got.length);
                  return got;
                };
              },
            });
          };
        },
      });
      const before = server.events().length;
      const feeder = run({ store: counting, sinks: [sparkpost(server, { maxAgeMs: 50 })], claimLingerMs: lingerMs });
      // One event every 10 ms for about a second, as a tracker under light load pushes them.
      for (let i = 0; i < 100; i++) {
        await push(store, [makeEvent(from + i)]);
        await Bun.sleep(10);
      }
      await until(() => server.events().length === before + 100, "all 100 events delivered");
      await feeder.close();
      return sizes;
    }
    const lingering = await claimsWhileTrickling(300, 0);
    const eager = await claimsWhileTrickling(0, 1000);
    expect(lingering.reduce((a, b) => a + b, 0)).toBe(100);
    expect(eager.reduce((a, b) => a + b, 0)).toBe(100);
    // About one claim per 300 ms of trickle with the pause; without it, about one per event pushed.
    expect(lingering.length).toBeLessThanOrEqual(12);
    expect(eager.length).toBeGreaterThanOrEqual(25);
  }, 30_000);
}

describe("feeder on SQLite", () => feederSuite("sqlite"));
describeWithRedis("feeder on Redis", (redis) => feederSuite("redis", redis));
