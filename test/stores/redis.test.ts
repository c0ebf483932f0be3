/** @module The store contract on Redis (a private redis-server), plus Redis-only behaviour: key layout, restart, trimming. */
import { describe, expect, test } from "bun:test";
import { Redis } from "ioredis";
import { openStore } from "../../src/stores/open-store.ts";
import { streamKey, type RedisStore } from "../../src/stores/redis.ts";
import { describeWithRedis, startRedis } from "../helpers/redis-server.ts";
import { testStoreContract } from "./_contract.ts";

describeWithRedis("redis store", (redis) => {
  let n = 0;
  testStoreContract("redis", () => ({ freshUrl: () => `${redis().url}/0?prefix=t${process.pid}-${++n}:` }));

  describe("redis key layout", () => {
    test("with the default prefix, KV keys are exactly the original's (msgID_<id> with EX, acct_headers without TTL)", async () => {
      const store = await openStore(`${redis().url}/3`);
      const raw = new Redis(`${redis().url}/3`);
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
        await raw.flushdb();
        raw.disconnect();
        await store.close();
      }
    });

    test("a prefix from the URL or the options goes in front of every key, the queue's stream included", async () => {
      const store = await openStore(`${redis().url}/4?prefix=mt:`);
      const raw = new Redis(`${redis().url}/4`);
      try {
        await store.kv.setMany([["msgID_1", "v"]], { ttlSeconds: 60 });
        await store.queue({ name: "events" }).push(["e"]);
        expect((await raw.keys("*")).sort()).toEqual(["mt:msgID_1", `mt:${streamKey("events")}`]);
        expect(store.description).toBe(`${redis().url}/4?prefix=mt%3A`);
      } finally {
        await raw.flushdb();
        raw.disconnect();
        await store.close();
      }
    });

    test("trim() removes stream entries every group has acked and keeps the ones still needed", async () => {
      const store = (await openStore(`${redis().url}/5`)) as RedisStore;
      try {
        const a = store.queue({ name: "events", group: "a" });
        const b = store.queue({ name: "events", group: "b" });
        await a.claim("a", { max: 1, leaseMs: 1000 });
        await b.claim("b", { max: 1, leaseMs: 1000 });
        for (let i = 0; i < 10; i++) await a.push(Array.from({ length: 100 }, (_, j) => `${i}:${j}`));
        const len = () => store.client.xlen(streamKey("events"));
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
      } finally {
        await store.client.flushdb();
        await store.close();
      }
    });
  });
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
});
