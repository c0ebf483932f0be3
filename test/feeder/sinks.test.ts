/** Webhook and file sinks, fan-out, and a shorter outage on SQLite. */
import { afterEach, describe, expect, test } from "bun:test";
import { createHmac, timingSafeEqual } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TrackingEvent } from "../../src/core/event.ts";
import { parseSignatureHeader } from "../../src/core/webhook-signature.ts";
import { startFeeder } from "../../src/feeder/feeder.ts";
import { createFileSink } from "../../src/feeder/file-sink.ts";
import { createSparkPostSink } from "../../src/feeder/sparkpost-sink.ts";
import { createWebhookSink } from "../../src/feeder/webhook-sink.ts";
import type { Store } from "../../src/stores/types.ts";
import { freshStore, makeEvent, until } from "./_fixtures.ts";
import { startIngestServer } from "./_ingest-server.ts";

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function push(store: Store, events: readonly TrackingEvent[]) {
  await store.queue({ name: "events" }).push(events.map((e) => JSON.stringify(e)));
}

function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), "mtatrack-file-sink-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The verification a receiver does (the example in docs/feeder.md). */
function verify(secret: string, header: string | null, body: string, nowSeconds: number): boolean {
  const sig = header ? parseSignatureHeader(header) : null;
  if (!sig || Math.abs(nowSeconds - sig.timestamp) > 300) return false;
  const expected = createHmac("sha256", secret).update(`${sig.timestamp}.${body}`).digest();
  return sig.v1.some((hex) => timingSafeEqual(Buffer.from(hex, "hex"), expected));
}

describe("webhook sink", () => {
  test("POSTs JSON arrays, signed, with custom headers and a stable Idempotency-Key across retries", async () => {
    const { store, cleanup } = await freshStore("sqlite");
    const got: { headers: Headers; body: string }[] = [];
    const server = Bun.serve({
      port: 0, hostname: "127.0.0.1",
      async fetch(req) {
        got.push({ headers: req.headers, body: await req.text() });
        return new Response(null, { status: got.length === 1 ? 503 : 204 });
      },
    });
    cleanups.push(cleanup, () => server.stop(true));
    const e = makeEvent(3);
    await store.kv.setMany([[`msgID_${e.msg_id}`, JSON.stringify({ rcpt: "a@example.com", "header_x-sp-subaccount-id": "9", campaign: "spring" })]], { ttlSeconds: 60 });
    await push(store, [e, makeEvent(4)]);
    const sink = createWebhookSink({ url: `http://127.0.0.1:${server.port}/hook`, secret: "s3cret", headers: [["Authorization", "Bearer xyz"]],
      limits: { maxBytes: 1 << 20, maxCount: 100, maxAgeMs: 100 } });
    const feeder = startFeeder({ store, sinks: [sink], consumer: "c", idleWaitMs: 50, backoff: { baseMs: 20, maxMs: 100 } });
    cleanups.push(() => feeder.close());
    await until(() => got.length === 2, "retried delivery");
    const [first, second] = got as [typeof got[0], typeof got[0]];
    expect(second.body).toBe(first.body);
    expect(second.headers.get("idempotency-key")).toBe(first.headers.get("idempotency-key")!);
    expect(second.headers.get("authorization")).toBe("Bearer xyz");
    expect(second.headers.get("content-type")).toBe("application/json");
    expect(verify("s3cret", second.headers.get("x-mtatrack-signature"), second.body, Math.floor(Date.now() / 1000))).toBe(true);
    expect(verify("wrong", second.headers.get("x-mtatrack-signature"), second.body, Math.floor(Date.now() / 1000))).toBe(false);
    const events = JSON.parse(second.body);
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ event_id: e.event_id, rcpt_to: "a@example.com", subaccount_id: 9, accounting: { campaign: "spring" } });
  });
});

describe("event selection", () => {
  test("a sink with --webhook-events human gets people's events only; machine ones are acked for it unsent", async () => {
    const dir = tempDir();
    const { store, cleanup } = await freshStore("sqlite");
    cleanups.push(cleanup);
    const events = Array.from({ length: 20 }, (_, i) => ({ ...makeEvent(i), machine: i % 4 === 0, machine_reason: i % 4 === 0 ? ("apple-mpp" as const) : null }));
    await push(store, events);
    const sink = { ...createFileSink({ path: join(dir, "e.ndjson"), rotate: { kind: "none" }, limits: { maxBytes: 1 << 20, maxCount: 100, maxAgeMs: 50 } }), events: "human" as const };
    const feeder = startFeeder({ store, consumer: "c", idleWaitMs: 50, sinks: [sink] });
    cleanups.push(() => feeder.close());
    await until(async () => (await store.queue({ name: "events", group: "file" }).stats()).depth === 0, "all acked");
    await feeder.close();
    const ids = readFileSync(join(dir, "e.ndjson"), "utf8").trim().split("\n").map((l) => JSON.parse(l).event_id);
    expect(ids).toEqual(events.filter((e) => !e.machine).map((e) => e.event_id));
  });
});

describe("webhook secret rotation", () => {
  test("with a previous secret, the header carries a v1 for each; receivers on either secret verify", async () => {
    let header: string | null = null;
    let body = "";
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", async fetch(req) { header = req.headers.get("x-mtatrack-signature"); body = await req.text(); return new Response(null, { status: 200 }); } });
    cleanups.push(() => server.stop(true));
    const sink = createWebhookSink({ url: `http://127.0.0.1:${server.port}/`, secret: "new-secret", previousSecret: "old-secret", limits: { maxBytes: 1 << 20, maxCount: 10, maxAgeMs: 10 } });
    const r = await sink.deliver({ records: ['{"a":1}'], eventIds: ["1"], bytes: 8 }, { signal: new AbortController().signal });
    expect(r.kind).toBe("accepted");
    const now = Math.floor(Date.now() / 1000);
    expect(parseSignatureHeader(header!)!.v1).toHaveLength(2);
    expect([verify("new-secret", header, body, now), verify("old-secret", header, body, now), verify("other", header, body, now)]).toEqual([true, true, false]);
  });
});

describe("file sink", () => {
  const limits = { maxBytes: 1 << 20, maxCount: 10, maxAgeMs: 50 };
  test("writes NDJSON and rotates by size; every event is in exactly one file", async () => {
    const dir = tempDir();
    const { store, cleanup } = await freshStore("sqlite");
    cleanups.push(cleanup);
    const events = Array.from({ length: 100 }, (_, i) => makeEvent(i));
    await push(store, events);
    const feeder = startFeeder({ store, consumer: "c", idleWaitMs: 50, sinks: [createFileSink({ path: join(dir, "events.ndjson"), rotate: { kind: "size", bytes: 4096 }, limits })] });
    await until(async () => (await store.queue({ name: "events", group: "file" }).stats()).depth === 0, "all written");
    await feeder.close();
    const files = readdirSync(dir);
    expect(files.length).toBeGreaterThan(2);
    const ids = files.flatMap((f) => readFileSync(join(dir, f), "utf8").trim().split("\n").map((l) => JSON.parse(l).event_id));
    expect(ids.sort()).toEqual(events.map((e) => e.event_id).sort());
    for (const f of files) expect(readFileSync(join(dir, f)).byteLength).toBeLessThanOrEqual(4096);
  });

  test("rotates daily (UTC) to <path>.<day>", async () => {
    const dir = tempDir();
    let now = Date.parse("2026-03-01T23:59:00Z");
    const sink = createFileSink({ path: join(dir, "e.ndjson"), rotate: { kind: "daily" }, limits, now: () => now });
    const batch = { records: ['{"a":1}'], eventIds: ["1"], bytes: 8 };
    expect((await sink.deliver(batch, { signal: new AbortController().signal })).kind).toBe("accepted");
    now = Date.parse("2026-03-02T00:01:00Z");
    await sink.deliver({ ...batch, records: ['{"a":2}'] }, { signal: new AbortController().signal });
    await sink.close();
    expect(readdirSync(dir).sort()).toEqual(["e.ndjson", "e.ndjson.2026-03-01"]);
    expect(readFileSync(join(dir, "e.ndjson.2026-03-01"), "utf8")).toBe('{"a":1}\n');
    expect(readFileSync(join(dir, "e.ndjson"), "utf8")).toBe('{"a":2}\n');
  });

  test("a write error is retried, not dead-lettered", async () => {
    const sink = createFileSink({ path: "/nonexistent-dir/x.ndjson", rotate: { kind: "none" }, limits });
    const r = await sink.deliver({ records: ["{}"], eventIds: ["1"], bytes: 3 }, { signal: new AbortController().signal });
    expect(r.kind).toBe("retry");
  });
});

describe("fan-out", () => {
  test("a stalled SparkPost sink does not hold up the file sink; it catches up when the endpoint recovers", async () => {
    const dir = tempDir();
    const { store, cleanup } = await freshStore("sqlite");
    let down = true;
    const server = await startIngestServer({ answer: () => (down ? { status: 503 } : { status: 200 }) });
    cleanups.push(cleanup, () => server.stop());
    const events = Array.from({ length: 500 }, (_, i) => makeEvent(i));
    await push(store, events);
    const limits = { maxBytes: 1 << 20, maxCount: 100, maxAgeMs: 100 };
    const feeder = startFeeder({
      store, consumer: "c", idleWaitMs: 50, backoff: { baseMs: 50, maxMs: 300 },
      sinks: [createSparkPostSink({ url: `${server.url}/api/v1/ingest/events`, apiKey: "test-key", limits }), createFileSink({ path: join(dir, "e.ndjson"), rotate: { kind: "none" }, limits })],
    });
    cleanups.push(() => feeder.close());
    await until(async () => (await store.queue({ name: "events", group: "file" }).stats()).depth === 0, "file sink done");
    expect(server.events()).toHaveLength(0);
    expect(readFileSync(join(dir, "e.ndjson"), "utf8").trim().split("\n")).toHaveLength(500);
    down = false;
    await until(() => server.events().length === 500, "SparkPost caught up");
  });
});

describe("outage on SQLite", () => {
  // The one-minute outage runs on Redis (resilience.test.ts); here 5 s, so the suite stays short.
  test("the endpoint down for 5 s under load: everything is delivered once it returns", async () => {
    const { store, cleanup } = await freshStore("sqlite");
    const server = await startIngestServer();
    cleanups.push(cleanup, () => server.stop());
    const feeder = startFeeder({
      store, consumer: "a", idleWaitMs: 100, leaseMs: 2000, backoff: { baseMs: 100, maxMs: 1000 },
      sinks: [createSparkPostSink({ url: `${server.url}/api/v1/ingest/events`, apiKey: "test-key", limits: { maxBytes: 5 << 20, maxCount: 200, maxAgeMs: 200 } })],
    });
    cleanups.push(() => feeder.close());
    const events: TrackingEvent[] = [];
    const produce = async (ms: number) => {
      for (const end = Date.now() + ms; Date.now() < end; await Bun.sleep(50)) {
        const chunk = Array.from({ length: 20 }, () => makeEvent(events.length + Math.random(), { rcpt: null }));
        chunk.forEach((e, i) => (e.event_id = String(2_000_000 + events.length + i)));
        events.push(...chunk);
        await push(store, chunk);
      }
    };
    await produce(500);
    await server.stop();
    await produce(5000);
    server.start();
    await produce(500);
    await until(() => new Set(server.events().map((e) => e.event_id)).size === events.length, "all events");
    expect(server.violations).toEqual([]);
  }, 30_000);
});
