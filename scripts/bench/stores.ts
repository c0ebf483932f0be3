/**
 * @module Store benchmark: push and claim+ack events/s at batch sizes 1 and 100 on SQLite (both drivers) and Redis,
 * next to raw pipelined LPUSH/RPOP rates measured in the same run against the same Redis.
 *
 * Usage: bun scripts/bench/stores.ts [--runs 5] [--events 50000] [--redis redis://127.0.0.1:6379/0]
 * Without --redis it starts a private redis-server (no persistence) on a free loopback port.
 * Each configuration gets one uncounted warm-up run. Prints a Markdown table of medians. At batch 100 each Redis
 * run is paired with a raw ioredis baseline run (same client, server and body) just before it, and the table
 * gives the median of the per-pair ratios; `redis-benchmark` (a C client) is printed for context when installed.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { openStore } from "../../src/stores/open-store.ts";
import type { Store } from "../../src/stores/types.ts";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "5" }, events: { type: "string", default: "50000" }, redis: { type: "string" } },
});
const RUNS = Number(values.runs);
const EVENTS = Number(values.events);
/** Batch-1 runs are round-trip bound; fewer events keep them short. */
const EVENTS_BATCH1 = Math.min(EVENTS, 5000);

// A realistic TrackingEvent as the tracker queues it (about 400 bytes).
const BODY = JSON.stringify({
  event_id: "4611686018427387904", type: "click", ts: 1795937796013, msg_id: "0000123456789abcdef0",
  rcpt: "recipient+00102830@example.com", target_link_url: "https://www.example.com/landing/page?utm_source=mail&utm_campaign=autumn",
  link_name: "hero", ip: "203.0.113.17", user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
  machine: false, machine_reason: null, first_open: false,
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function startPrivateRedis(): Promise<{ url: string; port: number; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  const client = new Redis({ port, lazyConnect: true, retryStrategy: () => 50 });
  client.on("error", () => {});
  for (let i = 0; i < 100; i++) {
    try {
      await client.connect();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await client.ping();
  client.disconnect();
  return { url: `redis://127.0.0.1:${port}/0`, port, proc };
}

/** Events per second for one run of `fn` over `n` events. */
async function rate(n: number, fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return n / ((performance.now() - t0) / 1000);
}

async function pushRun(store: Store, queue: string, n: number, batch: number): Promise<number> {
  const q = store.queue({ name: queue });
  const bodies = Array.from({ length: batch }, () => BODY);
  return await rate(n, async () => {
    for (let i = 0; i < n; i += batch) await q.push(bodies);
  });
}

async function claimAckRun(store: Store, queue: string, n: number, batch: number): Promise<number> {
  const q = store.queue({ name: queue });
  return await rate(n, async () => {
    let done = 0;
    while (done < n) {
      const got = await q.claim("bench", { max: batch, leaseMs: 60_000 });
      if (got.length === 0) throw new Error(`queue ran dry after ${done} of ${n}`);
      await q.ack(got.map((e) => e.id));
      done += got.length;
    }
  });
}

/** redis-benchmark -P 100 style: single-element commands, 100 per pipeline, one connection. */
async function rawRun(client: Redis, cmd: "lpush" | "rpop", n: number): Promise<number> {
  return await rate(n, async () => {
    for (let i = 0; i < n; i += 100) {
      const p = client.pipeline();
      for (let j = 0; j < 100; j++) {
        if (cmd === "lpush") p.lpush("bench:raw", BODY);
        else p.rpop("bench:raw");
      }
      await p.exec();
    }
  });
}

interface Row { backend: string; op: string; batch: number; rates: number[]; ratios?: number[] | undefined; ratioOf?: string }

async function benchStore(rows: Row[], label: string, url: string): Promise<void> {
  for (const batch of [1, 100]) {
    const n = batch === 1 ? EVENTS_BATCH1 : EVENTS;
    const push: number[] = [];
    const claim: number[] = [];
    // Run -1 warms up the JIT and the file/connection and is not counted.
    for (let r = -1; r < RUNS; r++) {
      const store = await openStore(url);
      const queue = `bench-${batch}-${r}-${Date.now()}`;
      const p = await pushRun(store, queue, n, batch);
      const c = await claimAckRun(store, queue, n, batch);
      if (r >= 0) {
        push.push(p);
        claim.push(c);
      }
      await store.close();
    }
    rows.push({ backend: label, op: "push", batch, rates: push }, { backend: label, op: "claim+ack", batch, rates: claim });
  }
}

/** Both SQLite drivers, interleaved run by run (alternating which goes first), so load swings hit both alike. */
async function benchSqliteDrivers(rows: Row[], dir: string): Promise<void> {
  for (const batch of [1, 100]) {
    const n = batch === 1 ? EVENTS_BATCH1 : EVENTS;
    const res = { bun: { push: [] as number[], claim: [] as number[] }, node: { push: [] as number[], claim: [] as number[] } };
    const bunOverNode = { push: [] as number[], claim: [] as number[] };
    for (let r = -1; r < RUNS; r++) {
      const order = r % 2 === 0 ? (["bun", "node"] as const) : (["node", "bun"] as const);
      const got: Record<string, { push: number; claim: number }> = {};
      for (const driver of order) {
        const store = await openStore(`sqlite:${join(dir, `${driver}.db`)}?driver=${driver}`);
        const queue = `bench-${batch}-${r}`;
        got[driver] = { push: await pushRun(store, queue, n, batch), claim: await claimAckRun(store, queue, n, batch) };
        await store.close();
      }
      if (r < 0) continue;
      for (const d of ["bun", "node"] as const) res[d].push.push(got[d]!.push), res[d].claim.push(got[d]!.claim);
      bunOverNode.push.push(got.bun!.push / got.node!.push);
      bunOverNode.claim.push(got.bun!.claim / got.node!.claim);
    }
    for (const d of ["bun", "node"] as const) {
      rows.push({ backend: `sqlite (${d}:sqlite)`, op: "push", batch, rates: res[d].push, ratios: d === "bun" ? bunOverNode.push : undefined, ratioOf: "node:sqlite" });
      rows.push({ backend: `sqlite (${d}:sqlite)`, op: "claim+ack", batch, rates: res[d].claim, ratios: d === "bun" ? bunOverNode.claim : undefined, ratioOf: "node:sqlite" });
    }
  }
}

/**
 * Redis at batch 100, each run paired with the raw baseline measured right before it: on a shared machine the
 * load changes from second to second, so a ratio of two neighbouring measurements travels better than rates.
 */
async function benchRedisPaired(rows: Row[], raw: Redis, url: string): Promise<void> {
  const rawPush: number[] = [], rawPop: number[] = [], push: number[] = [], claim: number[] = [];
  const pushRatio: number[] = [], claimRatio: number[] = [];
  for (let r = -1; r < RUNS; r++) {
    const store = await openStore(url);
    const queue = `bench-paired-${r}-${Date.now()}`;
    await raw.del("bench:raw");
    const lp = await rawRun(raw, "lpush", EVENTS);
    const p = await pushRun(store, queue, EVENTS, 100);
    const rp = await rawRun(raw, "rpop", EVENTS);
    const c = await claimAckRun(store, queue, EVENTS, 100);
    await store.close();
    if (r < 0) continue;
    rawPush.push(lp), rawPop.push(rp), push.push(p), claim.push(c);
    pushRatio.push(p / lp), claimRatio.push(c / rp);
  }
  rows.push(
    { backend: "raw Redis, ioredis pipeline of 100", op: "LPUSH", batch: 1, rates: rawPush },
    { backend: "redis", op: "push", batch: 100, rates: push, ratios: pushRatio },
    { backend: "raw Redis, ioredis pipeline of 100", op: "RPOP", batch: 1, rates: rawPop },
    { backend: "redis", op: "claim+ack", batch: 100, rates: claim, ratios: claimRatio },
  );
}

function redisBenchmarkCli(port: number): { lpush: number; rpop: number } | null {
  const which = spawnSync("redis-benchmark", ["--version"], { encoding: "utf8" });
  if (which.status !== 0) return null;
  const res = spawnSync("redis-benchmark", ["-p", String(port), "-t", "lpush,rpop", "-P", "100", "-n", String(EVENTS * 4), "-d", String(BODY.length), "-q", "--csv"], { encoding: "utf8" });
  const get = (name: string) => Number(res.stdout.split("\n").find((l) => l.startsWith(`"${name}"`))?.split(",")[1]?.replace(/"/g, "") ?? NaN);
  return { lpush: get("LPUSH"), rpop: get("RPOP") };
}

const fmt = (x: number) => Math.round(x).toLocaleString("en-US");

async function main(): Promise<void> {
  const own = values.redis ? null : await startPrivateRedis();
  const redisUrl = values.redis ?? own!.url;
  const dir = mkdtempSync(join(tmpdir(), "mtatrack-bench-"));
  const rows: Row[] = [];
  try {
    const raw = new Redis(redisUrl);
    await benchRedisPaired(rows, raw, `${redisUrl}?prefix=bench:`);
    const cli = own ? redisBenchmarkCli(own.port) : null;
    const batch1: Row[] = [];
    await benchStore(batch1, "redis", `${redisUrl}?prefix=bench:`);
    rows.push(...batch1.filter((r) => r.batch === 1));
    await benchSqliteDrivers(rows, dir);

    const keys = await raw.keys("bench:*");
    if (keys.length) await raw.del(...keys);
    raw.disconnect();

    const cpu = cpus()[0]?.model ?? "unknown CPU";
    console.log(`\n${cpus().length} × ${cpu}; Bun ${process.versions.bun ?? "-"}; ${RUNS} runs; ${EVENTS} events (batch 1: ${EVENTS_BATCH1}); body ${BODY.length} bytes\n`);
    console.log("| backend | operation | batch | events/s (median) | ratio to baseline (median of paired runs; each run) |");
    console.log("|---|---|---:|---:|---:|");
    for (const row of rows) {
      const of = row.ratioOf ?? "raw Redis";
      const ratio = row.ratios ? `${Math.round(100 * median(row.ratios))}% of ${of} (${row.ratios.map((x) => Math.round(100 * x)).join(", ")})` : "";
      console.log(`| ${row.backend} | ${row.op} | ${row.backend.startsWith("raw") ? "-" : row.batch} | ${fmt(median(row.rates))} | ${ratio} |`);
      if (row.op === "RPOP" && cli) {
        console.log(`| raw Redis, redis-benchmark -P 100 (C client, context only) | LPUSH | - | ${fmt(cli.lpush)} | |`);
        console.log(`| raw Redis, redis-benchmark -P 100 (C client, context only) | RPOP | - | ${fmt(cli.rpop)} | |`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    own?.proc.kill("SIGTERM");
  }
}

await main();
