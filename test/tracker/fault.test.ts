/**
 * Fault test: Redis is SIGKILLed in the middle of a load of clicks. Every request must still be answered
 * correctly (302 to its own target, in bounded time); once Redis is back, every event must reach the queue
 * exactly once, counted by event_id.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { TrackingEvent } from "../../src/core/event.ts";
import { redisUnavailableReason, startRedis, type RedisServer } from "../helpers/redis-server.ts";
import { startFixture, type Fixture } from "./_fixture.ts";

const reason = redisUnavailableReason();
const canKill = !reason && !process.env.REDIS_URL;

describe.skipIf(!canKill)("tracker with Redis killed under load", () => {
  let redis: RedisServer;
  let f: Fixture;
  beforeAll(async () => {
    // Append-only with fsync always: what Redis acknowledged before the kill survives it.
    redis = await startRedis({ appendonly: true });
    f = await startFixture(redis.url, { storeTimeoutMs: 300 });
  });
  afterAll(async () => {
    await f?.close();
    await redis?.stop();
  });

  test("every click is answered during the outage, and every event reaches the queue exactly once", async () => {
    const total = 600;
    const concurrency = 16;
    const tokens = Array.from({ length: total }, (_, i) => ({
      msgId: `fault-${i}`,
      target: `https://example.com/landing/${i}`,
    })).map((t) => ({ ...t, token: f.codec.encode({ action: "click", msgId: t.msgId, rcpt: null, targetUrl: t.target }) }));

    let next = 0;
    let done = 0;
    let killed: Promise<void> | null = null;
    const failures: string[] = [];
    let slowest = 0;
    const worker = async () => {
      while (next < total) {
        const t = tokens[next++]!;
        if (done >= total / 3 && !killed) killed = redis.kill();
        const started = performance.now();
        const res = await fetch(f.url + t.token, { redirect: "manual", headers: { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0" } });
        slowest = Math.max(slowest, performance.now() - started);
        if (res.status !== 302 || res.headers.get("location") !== t.target) failures.push(`${t.msgId}: ${res.status} ${res.headers.get("location")}`);
        done++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    await killed;
    expect(failures).toEqual([]);
    // Bounded: at worst one store timeout for the KV calls plus one for the push, plus scheduling.
    expect(slowest).toBeLessThan(3000);
    expect(f.spool.stats().records).toBeGreaterThan(0); // the outage really happened

    await redis.restart();
    const deadline = Date.now() + 20_000;
    while ((f.spool.stats().records > 0 || f.tracker.sink.degraded) && Date.now() < deadline) await Bun.sleep(100);
    expect(f.spool.stats().records).toBe(0);

    const events: TrackingEvent[] = await f.drainEvents();
    const ids = events.map((e) => e.event_id);
    expect(new Set(ids).size).toBe(ids.length); // no event twice
    expect(ids.length).toBe(total); // none lost
    expect(new Set(events.map((e) => e.msg_id))).toEqual(new Set(tokens.map((t) => t.msgId)));

    const text = await (await fetch(f.url + "metrics")).text();
    const spooled = Number(/mtatrack_tracker_events_total\{outcome="spooled"\} (\d+)/.exec(text)?.[1]);
    const replayed = Number(/mtatrack_tracker_events_total\{outcome="replayed"\} (\d+)/.exec(text)?.[1]);
    const queued = Number(/mtatrack_tracker_events_total\{outcome="queued"\} (\d+)/.exec(text)?.[1]);
    expect(spooled).toBeGreaterThan(0);
    expect(queued + spooled).toBe(total);
    expect(replayed).toBeLessThanOrEqual(spooled); // a late-landing push is skipped, not replayed
  }, 60_000);
});

if (!canKill) test.skip(`fault test needs a redis-server of its own (${reason ?? "REDIS_URL is set"})`, () => {});
