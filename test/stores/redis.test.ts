/** @module The store contract on Redis (a private redis-server), plus Redis-only behaviour: key layout, restart, trimming. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Redis } from "ioredis";
import { openStore } from "../../src/stores/open-store.ts";
import { streamKey, type RedisStore } from "../../src/stores/redis.ts";
import { UncertainPushError } from "../../src/stores/uncertain-push.ts";
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
        const keys = await raw.keys(`${prefix}*`);
        // Besides the KV key and the stream, the queue handle's bitmap of landed pushes (mtatrack:pushed:<handle>:0).
        const bitmap = keys.find((k) => k.startsWith(`${prefix}mtatrack:pushed:`));
        expect(bitmap).toMatch(new RegExp(`^${prefix}mtatrack:pushed:[A-Za-z0-9_-]{12}:0$`));
        expect(keys.sort()).toEqual([`${prefix}msgID_1`, bitmap!, `${prefix}${streamKey("events")}`].sort());
        expect(store.description).toEndWith(`/4?prefix=${encodeURIComponent(prefix)}`);
        expect(store.description).not.toContain("@");
      } finally {
        await raw.del(...(await raw.keys(`${prefix}*`)));
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

  for (const useBunClient of [true, false]) {
    test(`a push whose answer is lost is an UncertainPushError that finds out it landed; a push that never ran finds out it did not (${useBunClient ? "Bun's client" : "ioredis"})`, async () => {
      const proxy = await startCuttingProxy(new URL(redis().url));
      const prefix = `cut${process.pid}${useBunClient ? "b" : "i"}:`;
      const store = await openStore(redisUrlWith(`redis://127.0.0.1:${proxy.port}`, { prefix }), { useBunClient });
      const queue = store.queue({ name: "events", group: "g" });
      try {
        await queue.push(["warm-up"]); // loads the script, so the cut push is one EVALSHA that runs
        proxy.cutNextReply = true;
        const lost = await queue.push(["a", "b"]).then((ids) => ids, (err: unknown) => err);
        expect(proxy.cuts).toBe(1); // Redis ran the push and answered, and the answer was thrown away
        if (useBunClient) {
          expect(lost).toBeInstanceOf(UncertainPushError);
          expect(await retrying(() => (lost as UncertainPushError).landedBodies())).toEqual(["a", "b"]);
        } else {
          // ioredis reconnects and resends the push: its bit is set, so it appends nothing the second time and
          // says it cannot tell the ids.
          expect(lost).toEqual(["", ""]);
        }

        if (useBunClient) {
          // (ioredis would hold the push in its offline queue and retry it, which the cut above already covers.)
          proxy.refuse = true; // now nothing reaches Redis
          const never = await queue.push(["c"]).then(() => null, (err: unknown) => err);
          expect(never).toBeInstanceOf(UncertainPushError);
          await expect((never as UncertainPushError).landedBodies()).rejects.toThrow();
          proxy.refuse = false;
          expect(await retrying(() => (never as UncertainPushError).landedBodies())).toEqual([]);
        }

        await queue.push(["d"]);
        const bodies = (await queue.claim("c", { max: 100, leaseMs: 60_000 })).map((e) => e.body);
        expect(bodies).toEqual(["warm-up", "a", "b", "d"]);
      } finally {
        const raw = new Redis(redis().url);
        const keys = await raw.keys(`${prefix}*`);
        if (keys.length > 0) await raw.del(...keys);
        raw.disconnect();
        await store.close();
        proxy.stop();
      }
    }, 30_000);
  }

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

/** Retries `fn` for a few seconds: the store reconnects on demand after the proxy cut its connection. */
async function retrying<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await Bun.sleep(50);
    }
  }
}

/**
 * A TCP proxy in front of Redis that can throw away the next answer and close the connection (Redis ran the
 * command, the client never hears), or refuse connections and drop everything sent (Redis never runs it).
 */
async function startCuttingProxy(target: URL) {
  type Pair = { server: import("bun").Socket<unknown> | null; pending: Uint8Array[] };
  const state = { cutNextReply: false, refuse: false, cuts: 0 };
  const clients = new Set<import("bun").Socket<Pair>>();
  const listener = Bun.listen<Pair>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        if (state.refuse) return void client.end();
        clients.add(client);
        client.data = { server: null, pending: [] };
        void Bun.connect({
          hostname: target.hostname,
          port: Number(target.port),
          socket: {
            open(server) {
              client.data.server = server;
              for (const chunk of client.data.pending) server.write(chunk);
              client.data.pending = [];
            },
            data(server, chunk) {
              if (state.cutNextReply) {
                state.cutNextReply = false;
                state.cuts++;
                server.end();
                client.end();
                return;
              }
              client.write(chunk);
            },
            close() {
              client.end();
            },
            error() {
              client.end();
            },
          },
        }).catch(() => client.end());
      },
      data(client, chunk) {
        if (state.refuse) {
          client.data.server?.end();
          return void client.end();
        }
        const copy = new Uint8Array(chunk);
        if (client.data.server) client.data.server.write(copy);
        else client.data.pending.push(copy);
      },
      close(client) {
        clients.delete(client);
        client.data?.server?.end();
      },
    },
  });
  return Object.assign(state, {
    port: listener.port,
    stop() {
      for (const c of clients) c.end();
      listener.stop(true);
    },
  });
}
