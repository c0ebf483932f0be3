/** @module The store contract on Redis (a private redis-server), plus Redis-only behaviour: key layout, restart, trimming. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Redis } from "ioredis";
import { openStore } from "../../src/stores/open-store.ts";
import { streamKey, type RedisStore } from "../../src/stores/redis.ts";
import { describeWithRedis, redisUrlWith, startRedis } from "../helpers/redis-server.ts";
import { testStoreContract } from "./_contract.ts";

describeWithRedis("redis store", (redis) => {
  let n = 0;
  testStoreContract("redis", () => ({ freshUrl: () => redisUrlWith(redis().url, { prefix: `t${process.pid}-${++n}:` }) }));
  // Under Bun, KV calls and pushes go on Bun's client by default; the same contract through ioredis alone (as
  // under Deno and Node, or with a server that does not speak RESP3).
  testStoreContract("redis (ioredis only)", () => ({
    freshUrl: () => redisUrlWith(redis().url, { prefix: `io${process.pid}-${++n}:` }),
    options: { useBunClient: false },
  }));

  describe("redis key layout", () => {
    test("with the default prefix, KV keys are exactly the original's (msgID_<id> with EX, acct_headers without TTL)", async () => {
      const url = redisUrlWith(redis().url, { db: 3 });
      const store = await openStore(url);
      const raw = new Redis(url);
      try {
        await store.kv.setMany([["acct_headers", '{"header_x-sp-message-id":2,"rcpt":1,"type":0}']], { ttlSeconds: 0 });
        await store.kv.setMany([["msgID_0000123456789abcdef0", '{"header_x-sp-subaccount-id":"0","rcpt":"a@b"}']], { ttlSeconds: 864000 });
        expect(await raw.get("msgID_0000123456789abcdef0")).toBe('{"header_x-sp-subaccount-id":"0","rcpt":"a@b"}');
        expect(await raw.ttl("msgID_0000123456789abcdef0")).toBeGreaterThan(863990);
        expect(await raw.ttl("acct_headers")).toBe(-1);
        // And the other way round: what the original acct_etl writes, ours reads.
        await raw.set("msgID_fromgo", '{"rcpt":"x@y"}', "EX", 864000);
        expect(await store.kv.getMany(["msgID_fromgo"])).toEqual(['{"rcpt":"x@y"}']);
      } finally {
        await raw.del("acct_headers", "msgID_0000123456789abcdef0", "msgID_fromgo");
        raw.disconnect();
        await store.close();
      }
    });

    test("a prefix from the URL or the options goes in front of every key, the queue's stream included", async () => {
      const prefix = `mt${process.pid}:`;
      const store = await openStore(redisUrlWith(redis().url, { db: 4, prefix }));
      const raw = new Redis(redisUrlWith(redis().url, { db: 4 }));
      try {
        await store.kv.setMany([["msgID_1", "v"]], { ttlSeconds: 60 });
        await store.queue({ name: "events" }).push(["e"]);
        expect((await raw.keys(`${prefix}*`)).sort()).toEqual([`${prefix}msgID_1`, `${prefix}${streamKey("events")}`]);
        expect(store.description).toEndWith(`/4?prefix=${encodeURIComponent(prefix)}`);
        expect(store.description).not.toContain("@");
      } finally {
        await raw.del(`${prefix}msgID_1`, `${prefix}${streamKey("events")}`);
        raw.disconnect();
        await store.close();
      }
    });

    test("trim() removes stream entries every group has acked, keeps the ones still needed, forgets idle consumers", async () => {
      const prefix = `trim${process.pid}:`;
      const store = (await openStore(redisUrlWith(redis().url, { db: 5, prefix }))) as RedisStore;
      try {
        const a = store.queue({ name: "events", group: "a" });
        const b = store.queue({ name: "events", group: "b" });
        await a.claim("a", { max: 1, leaseMs: 1000 });
        await b.claim("b", { max: 1, leaseMs: 1000 });
        for (let i = 0; i < 10; i++) await a.push(Array.from({ length: 100 }, (_, j) => `${i}:${j}`));
        const len = async () => (await store.ioredis()).xlen(`${prefix}${streamKey("events")}`);
        expect(await len()).toBe(1000);
        const ga = await a.claim("a", { max: 1000, leaseMs: 60_000 });
        await a.ack(ga.map((e) => e.id));
        await store.trim("events");
        expect(await len()).toBe(1000); // b has seen nothing yet
        const gb = await b.claim("b", { max: 800, leaseMs: 60_000 });
        await b.ack(gb.slice(0, 700).map((e) => e.id)); // 700..799 still pending in b
        await store.trim("events");
        // MINID ~ trims whole stream nodes (100 entries by default), never past what b still needs.
        expect(await len()).toBeLessThan(1000);
        expect(await len()).toBeGreaterThanOrEqual(300);
        expect((await b.claim("b2", { max: 1000, leaseMs: 60_000 })).map((e) => e.body)[0]).toBe("8:0");
        // Consumers with nothing pending are forgotten once idle long enough; ones holding leases never are.
        await store.trim("events", { consumerIdleMs: 0 });
        const names = async (g: string) =>
          ((await (await store.ioredis()).call("XINFO", "CONSUMERS", `${prefix}${streamKey("events")}`, g)) as unknown[][]).map((c) => c[1]);
        expect(await names("a")).toEqual([]);
        expect((await names("b")).sort()).toEqual(["b", "b2"]);
      } finally {
        await (await store.ioredis()).del(`${prefix}${streamKey("events")}`);
        await store.close();
      }
    });
  });
});

describeWithRedis("redis store under Deno", (redis) => {
  test("push, claim and KV work under Deno too (ioredis against the same server)", async () => {
    const deno = Bun.which("deno") ?? join(import.meta.dir, "../../node_modules/.bin/deno");
    const url = redisUrlWith(redis().url, { prefix: `deno${process.pid}:` });
    const script = `import { openStore } from "./src/stores/open-store.ts";
const s = await openStore(${JSON.stringify(url)});
const q = s.queue({ name: "events" });
await q.push(["from-deno"]);
const got = await q.claim("d", { max: 1, leaseMs: 1000 });
await q.ack(got.map((e) => e.id));
await s.kv.setMany([["msgID_d", "v"]], { ttlSeconds: 60 });
console.log(JSON.stringify([got[0].body, (await s.kv.getMany(["msgID_d"]))[0], await s.kv.setIfAbsent("f", { ttlSeconds: 5 })]));
await s.close();`;
    const p = Bun.spawn([deno, "eval", "--ext=ts", script], { cwd: join(import.meta.dir, "../.."), stdout: "pipe", stderr: "pipe" });
    const out = await new Response(p.stdout).text();
    if ((await p.exited) !== 0) throw new Error(await new Response(p.stderr).text());
    expect(JSON.parse(out)).toEqual(["from-deno", "v", true]);
  }, 30_000);
});

describeWithRedis("redis store across a server restart", (redis) => {
  test("reconnects by itself after Redis is killed and restarted (AOF), keeping acked state and leases", async () => {
    if (!redis().owned) return;
    const server = await startRedis({ appendonly: true });
    const store = await openStore(server.url);
    try {
      const q = store.queue({ name: "events" });
      await q.push(["acked", "leased", "fresh"]);
      const got = await q.claim("c", { max: 2, leaseMs: 500 });
      await q.ack([got[0]!.id]);
      await store.kv.setMany([["msgID_x", "v"]], { ttlSeconds: 60 });
      await server.kill();
      await expect(store.kv.getMany(["msgID_x"])).rejects.toThrow();
      await server.restart();
      let again: Awaited<ReturnType<typeof q.claim>> = [];
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        try {
          await Bun.sleep(600);
          again = await q.claim("d", { max: 10, leaseMs: 500 });
          break;
        } catch {
          // still reconnecting
        }
      }
      expect(again.map((e) => [e.body, e.deliveries])).toEqual([["leased", 2], ["fresh", 1]]);
      expect(await store.kv.getMany(["msgID_x"])).toEqual(["v"]);
    } finally {
      await store.close();
      await server.stop();
    }
  }, 30_000);

  test("after a restart without persistence (queue and group gone) the group is recreated and work goes on", async () => {
    if (!redis().owned) return;
    const server = await startRedis();
    const store = await openStore(server.url);
    try {
      const q = store.queue({ name: "events" });
      await q.push(["lost with the server"]);
      expect(await q.claim("c", { max: 5, leaseMs: 1000 })).toHaveLength(1);
      await server.kill();
      await server.restart();
      let pushed = false;
      const deadline = Date.now() + 10_000;
      while (!pushed && Date.now() < deadline) {
        pushed = await q.push(["after restart"]).then(() => true, () => false);
        if (!pushed) await Bun.sleep(200);
      }
      expect(pushed).toBe(true);
      expect((await q.claim("c", { max: 5, leaseMs: 1000 })).map((e) => e.body)).toEqual(["after restart"]);
    } finally {
      await store.close();
      await server.stop();
    }
  }, 30_000);
});

describeWithRedis("redis store connections under Bun", (redis) => {
  /** The connections to `url`'s server other than `raw`'s own, as CLIENT LIST fields. */
  async function storeConnections(raw: Redis): Promise<Record<string, string>[]> {
    const self = String(await raw.client("ID"));
    const list = String(await raw.client("LIST"));
    return list.trim().split("\n").map((line) => Object.fromEntries(line.trim().split(" ").map((kv) => kv.split("=", 2) as [string, string])))
      .filter((c) => c.id !== self && c.cmd !== "client|list");
  }

  test("KV calls and pushes go on one RESP3 connection (Bun's client); ioredis connects only when a queue is claimed", async () => {
    if (!redis().owned) return;
    const server = await startRedis();
    const raw = new Redis(server.url);
    const store = await openStore(redisUrlWith(server.url, { db: 2 }));
    try {
      await store.kv.setMany([["msgID_a", "v"]], { ttlSeconds: 60 });
      expect(await store.kv.setIfAbsentMany(["f1", "f1"], { ttlSeconds: 60 })).toEqual([true, false]);
      await store.queue({ name: "events" }).push(["one", "two"]);
      expect((await storeConnections(raw)).map((c) => [c.resp, c.db])).toEqual([["3", "2"]]);
      expect((await store.queue({ name: "events" }).claim("c", { max: 5, leaseMs: 1000 })).map((e) => e.body)).toEqual(["one", "two"]);
      expect(await storeConnections(raw)).toHaveLength(2);
    } finally {
      raw.disconnect();
      await store.close();
      await server.stop();
    }
  });

  test("a server that refuses HELLO 3 (as Redis before 6 does) is used through ioredis alone, lazily opened or not", async () => {
    if (!redis().owned) return;
    const server = await startRedis({ args: ["--rename-command", "HELLO", '""'] });
    const raw = new Redis(server.url);
    try {
      for (const lazy of [false, true]) {
        const store = await openStore(redisUrlWith(server.url, { prefix: `old${lazy}:` }), { lazy });
        try {
          await store.kv.setMany([["msgID_a", "v"]], { ttlSeconds: 60 });
          expect(await store.kv.getMany(["msgID_a"])).toEqual(["v"]);
          expect(await store.kv.setIfAbsentMany(["f1", "f1"], { ttlSeconds: 60 })).toEqual([true, false]);
          const q = store.queue({ name: "events" });
          await q.push(["one", "two"]);
          expect((await q.claim("c", { max: 5, leaseMs: 1000 })).map((e) => e.body)).toEqual(["one", "two"]);
          expect((await storeConnections(raw)).map((c) => c.resp)).toEqual(["2"]);
        } finally {
          await store.close();
        }
      }
    } finally {
      raw.disconnect();
      await server.stop();
    }
  });

  test("Bun's client reconnects on demand: a command while Redis is down fails at once, the first after it is back succeeds", async () => {
    if (!redis().owned) return;
    const server = await startRedis();
    const store = await openStore(server.url);
    try {
      await store.kv.setMany([["msgID_a", "v"]], { ttlSeconds: 60 });
      await server.kill();
      const started = Date.now();
      await expect(store.kv.getMany(["msgID_a"])).rejects.toThrow();
      await expect(store.ping()).rejects.toThrow();
      // Bounded by the connect timeout (5 s), not waiting for the server to come back.
      expect(Date.now() - started).toBeLessThan(5000);
      await server.restart();
      await store.kv.setMany([["msgID_b", "w"]], { ttlSeconds: 60 });
      expect(await store.kv.getMany(["msgID_a", "msgID_b"])).toEqual([null, "w"]);
    } finally {
      await store.close();
      await server.stop();
    }
  }, 30_000);
});
