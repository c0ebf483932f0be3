/**
 * @module Feeder throughput: events/s from a queue of 500,000 events into a local ingest endpoint, per store
 * backend, with the endpoint's own time measured separately, and with an endpoint answering in 50 ms.
 *
 * Usage: bun scripts/bench/feeder.ts [--events 500000] [--backends sqlite,redis] [--runs 3]
 * Needs redis-server on PATH for the Redis rows (started privately on a free port).
 * Baseline (same run, right after each feeder run, on the same 500,000 events through a second consumer
 * group): claim + ack only, no enrichment, formatting or HTTP.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import type { TrackingEvent } from "../../src/core/event.ts";
import { startFeeder } from "../../src/feeder/feeder.ts";
import { FeederMetrics } from "../../src/feeder/metrics.ts";
import { createSparkPostSink } from "../../src/feeder/sparkpost-sink.ts";
import { openStore } from "../../src/stores/open-store.ts";
import type { Store } from "../../src/stores/types.ts";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const total = Number(arg("events", "500000"));
const backends = arg("backends", "sqlite,redis").split(",");
const msgIds = 50_000;

function event(i: number): TrackingEvent {
  return {
    event_id: String(4_000_000_000_000 + i), type: i % 4 === 0 ? "open" : "click", ts: 1_764_000_000_000 + i,
    msg_id: `0000${(i % msgIds).toString(16).padStart(16, "0")}`, rcpt: `user${i % msgIds}@example.com`,
    target_link_url: i % 4 === 0 ? null : `https://www.example.com/landing/page-${i % 1000}?utm_source=mail&utm_campaign=spring`,
    link_name: null, ip: `192.0.2.${i % 250}`, machine: false, machine_reason: null, first: i % 10 === 0,
    user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  };
}

async function fill(store: Store): Promise<number> {
  const t0 = performance.now();
  const q = store.queue({ name: "events" });
  for (let i = 0; i < total; i += 10_000) {
    await q.push(Array.from({ length: Math.min(10_000, total - i) }, (_, k) => JSON.stringify(event(i + k))));
  }
  const acct = Array.from({ length: msgIds }, (_, i) => [`msgID_0000${i.toString(16).padStart(16, "0")}`, JSON.stringify({ rcpt: `user${i}@example.com`, "header_x-sp-subaccount-id": String(i % 7) })] as const);
  for (let i = 0; i < acct.length; i += 10_000) await store.kv.setMany(acct.slice(i, i + 10_000), { ttlSeconds: 3600 });
  return performance.now() - t0;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function startEndpoint(delayMs: number) {
  const proc = Bun.spawn(["bun", join(import.meta.dir, "_ingest-endpoint.ts"), String(delayMs)], { stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  const { value } = await reader.read();
  const url = `http://127.0.0.1:${new TextDecoder().decode(value).trim()}`;
  return {
    url,
    stats: async () => (await (await fetch(`${url}/stats`)).json()) as { events: number; requests: number; busyMs: number },
    stop: async () => { proc.kill(); await proc.exited; },
  };
}

/** Baseline: claim + ack only, by a group created before the feeder ran (so the events are still there). */
async function drain(store: Store): Promise<number> {
  const q = store.queue({ name: "events", group: "baseline" });
  const t0 = performance.now();
  let n = 1; // the one event claimed to create the group
  while (n < total) {
    const got = await q.claim("b", { max: 1000, leaseMs: 60_000 });
    if (got.length === 0) break;
    await q.ack(got.map((g) => g.id));
    n += got.length;
  }
  return (n / (performance.now() - t0)) * 1000;
}

async function feed(store: Store, delayMs: number, concurrency: number, maxCount: number) {
  const endpoint = await startEndpoint(delayMs);
  const sink = createSparkPostSink({ url: `${endpoint.url}/api/v1/ingest/events`, apiKey: "k", limits: { maxBytes: 5 * 1024 * 1024, maxCount, maxAgeMs: 1000 } });
  const metrics = new FeederMetrics();
  // Share of the run with every delivery slot taken: the time the endpoint, not the feeder, set the pace.
  let samples = 0;
  let full = 0;
  const sampler = setInterval(async () => {
    const v = (await metrics.inFlight.get()).values[0]?.value ?? 0;
    samples++;
    if (v >= concurrency) full++;
  }, 10);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const feeder = startFeeder({ store, sinks: [sink], consumer: "bench", concurrency, idleWaitMs: 200, metrics });
  let s = await endpoint.stats();
  while (s.events < total) {
    await Bun.sleep(50);
    s = await endpoint.stats();
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  await feeder.close();
  await endpoint.stop();
  // CPU of this process (the feeder, its gzip threads, ioredis; the stats polling is negligible): on a
  // shared machine, µs per event travels better than wall-clock events/s.
  const cpuUsPerEvent = (cpu.user + cpu.system) / total;
  return { slotsFull: full / Math.max(1, samples), cpuUsPerEvent, eventsPerSec: (total / ms) * 1000, seconds: ms / 1000, requests: s.requests, endpointBusyS: s.busyMs / 1000, endpointEventsPerBusySec: (total / s.busyMs) * 1000 };
}

async function openBackend(kind: string): Promise<{ store: () => Promise<Store>; cleanup: () => Promise<void> }> {
  if (kind === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "mtatrack-bench-"));
    let n = 0;
    return { store: () => openStore(`sqlite:${join(dir, `s${n++}.db`)}`), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "mtatrack-bench-redis-"));
  const proc = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], { stdout: "ignore", stderr: "ignore" });
  await Bun.sleep(300);
  let db = 0;
  return {
    store: () => openStore(`redis://127.0.0.1:${port}/${db++ % 16}`),
    cleanup: async () => { proc.kill(); await proc.exited; rmSync(dir, { recursive: true, force: true }); },
  };
}

const runs = Number(arg("runs", "3"));
const configs: [string, number, number, number][] = [
  ["0 ms endpoint, 5 MiB batches, 4 in flight", 0, 4, 100_000],
  ["50 ms endpoint, 5 MiB batches, 4 in flight", 50, 4, 100_000],
  ["50 ms endpoint, 1000-event batches, 1 in flight", 50, 1, 1000],
  ["50 ms endpoint, 1000-event batches, 8 in flight", 50, 8, 1000],
];
const rows: string[] = [];
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const kind of backends) {
  const backend = await openBackend(kind);
  try {
    for (const [label, delay, conc, maxCount] of configs) {
      const results: (Awaited<ReturnType<typeof feed>> & { base: number })[] = [];
      // Repeated, and each run paired with its own baseline measured right after it on the same data:
      // on a shared machine the load changes from minute to minute, a paired ratio much less.
      for (let r = 0; r < runs; r++) {
        const store = await backend.store();
        await fill(store);
        await store.queue({ name: "events", group: "baseline" }).claim("b", { max: 1, leaseMs: 3_600_000 });
        const res = await feed(store, delay, conc, maxCount);
        const base = await drain(store);
        await store.close();
        results.push({ ...res, base });
        console.error(`${kind} ${label} run ${r + 1}: ${fmt(res.eventsPerSec)}/s, baseline ${fmt(base)}/s, ${res.cpuUsPerEvent.toFixed(1)} µs/event`);
      }
      const best = results.reduce((a, b) => (b.eventsPerSec > a.eventsPerSec ? b : a));
      const us = median(results.map((x) => x.cpuUsPerEvent));
      rows.push(`| ${kind} | ${label} | ${fmt(median(results.map((x) => x.eventsPerSec)))} (best ${fmt(best.eventsPerSec)}) | ${median(results.map((x) => x.eventsPerSec / x.base)).toFixed(2)} (baseline median ${fmt(median(results.map((x) => x.base)))}) | ${us.toFixed(1)} µs (${fmt(1e6 / us)}/CPU-s) | ${median(results.map((x) => x.endpointBusyS)).toFixed(1)} s (${fmt(median(results.map((x) => x.endpointEventsPerBusySec)))}/busy-s) | ${best.requests} | ${(100 * median(results.map((x) => x.slotsFull))).toFixed(0)} % |`);
    }
  } finally {
    await backend.cleanup();
  }
}
console.log(`${total.toLocaleString("en-US")} events, ${runs} runs each; ${cpus().length} × ${cpus()[0]?.model ?? "?"}; bun ${Bun.version}`);
console.log(`load average at the end: ${(await import("node:os")).loadavg().map((l) => l.toFixed(1)).join(" ")}`);
console.log("| store | feeder run | events/s, median (best) | ratio to claim+ack baseline, median | feeder CPU per event | endpoint's own time | batches | all slots busy |");
console.log("|---|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
