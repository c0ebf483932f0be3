/** @module The store contract on SQLite (both drivers where available), plus SQLite-only maintenance behaviour. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore } from "../../src/stores/sqlite.ts";
import { testStoreContract } from "./_contract.ts";

const dir = mkdtempSync(join(tmpdir(), "mtatrack-sqlite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `store-${++n}.db`);

for (const driver of ["bun", "node"] as const) {
  testStoreContract(`sqlite (${driver}:sqlite)`, () => ({ freshUrl: () => `sqlite:${freshPath()}?driver=${driver}` }));
}

describe("sqlite maintenance", () => {
  test("purgeExpired() deletes expired KV rows in batches and keeps live and never-expiring ones", async () => {
    let now = 1_000_000;
    const store = await openSqliteStore(freshPath(), { now: () => now, purgeIntervalMs: 0 });
    const expiring = Array.from({ length: 1200 }, (_, i) => [`msgID_${i}`, "{}"] as const);
    await store.kv.setMany(expiring, { ttlSeconds: 10 });
    await store.kv.setMany([["live", "x"]], { ttlSeconds: 100 });
    await store.kv.setMany([["acct_headers", "{}"]], { ttlSeconds: 0 });
    now += 11_000;
    expect(await store.purgeExpired()).toBe(1200);
    expect(await store.kv.getMany(["live", "acct_headers", "msgID_0"])).toEqual(["x", "{}", null]);
    await store.close();
  });

  test("events acked by every existing group are deleted; ones a group still needs are kept", async () => {
    const store = await openSqliteStore(freshPath(), { purgeIntervalMs: 0 });
    // stats() of a group that never claimed counts everything retained, and does not create the group.
    const retained = async () => (await store.queue({ name: "events", group: "probe" }).stats()).depth;
    const a = store.queue({ name: "events", group: "a" });
    const b = store.queue({ name: "events", group: "b" });
    await a.push(["before any group"]);
    await store.purgeAcked();
    expect(await retained()).toBe(1); // no group has claimed yet: nothing may go
    await a.ack((await a.claim("a", { max: 1, leaseMs: 60_000 })).map((e) => e.id));
    await store.purgeAcked();
    expect(await retained()).toBe(0); // the only group acked it
    expect(await b.claim("b", { max: 1, leaseMs: 60_000 })).toEqual([]); // b exists from its first claim on
    await a.push(Array.from({ length: 1000 }, (_, i) => String(i)));
    await a.ack((await a.claim("a", { max: 1000, leaseMs: 60_000 })).map((e) => e.id));
    await store.purgeAcked();
    expect(await retained()).toBe(1000); // a is done, b has seen nothing
    const gb = await b.claim("b", { max: 600, leaseMs: 60_000 });
    await b.ack(gb.slice(0, 500).map((e) => e.id)); // 500..599 still leased to b
    await store.purgeAcked();
    expect(await retained()).toBe(500);
    expect((await b.stats()).depth).toBe(500);
    await store.close();
  });

  test("event ids keep increasing after every event was deleted (no id reuse)", async () => {
    const store = await openSqliteStore(freshPath(), { purgeIntervalMs: 0 });
    const q = store.queue({ name: "events" });
    const [first] = await q.push(["a"]);
    await q.ack((await q.claim("c", { max: 1, leaseMs: 1000 })).map((e) => e.id));
    await store.purgeAcked();
    const [second] = await q.push(["b"]);
    expect(Number(second)).toBeGreaterThan(Number(first));
    expect((await q.claim("c", { max: 1, leaseMs: 1000 })).map((e) => e.body)).toEqual(["b"]);
    await store.close();
  });

  test("a file from a newer mtatrack (higher schema version) is refused with a clear reason", async () => {
    const path = freshPath();
    const store = await openSqliteStore(path, { purgeIntervalMs: 0 });
    await store.close();
    const { Database } = await import("bun:sqlite");
    const db = new Database(path);
    db.exec("PRAGMA user_version = 99");
    db.close();
    await expect(openSqliteStore(path)).rejects.toThrow("the file has store schema 99; this mtatrack knows 1: upgrade mtatrack");
  });

  test("opening a file that has the current schema takes no write lock: a start does not wait behind another process's write", async () => {
    const path = freshPath();
    await (await openSqliteStore(path, { purgeIntervalMs: 0 })).close();
    const { Database } = await import("bun:sqlite");
    const writer = new Database(path);
    writer.exec("PRAGMA busy_timeout = 0");
    writer.exec("BEGIN IMMEDIATE"); // holds the write lock, as a tracker's push or an acct-etl batch does
    try {
      const store = await openSqliteStore(path, { busyTimeoutMs: 0, purgeIntervalMs: 0 });
      expect(await store.kv.getMany(["absent"])).toEqual([null]);
      await store.close();
      // A new file still needs the schema written, and so the lock: with none to be had it fails at once.
      const fresh = freshPath();
      await (await openSqliteStore(fresh, { purgeIntervalMs: 0 })).close();
      const other = new Database(fresh);
      other.exec("PRAGMA user_version = 0");
      other.exec("BEGIN IMMEDIATE");
      await expect(openSqliteStore(fresh, { busyTimeoutMs: 0, purgeIntervalMs: 0 })).rejects.toThrow(/locked|busy/i);
      other.exec("ROLLBACK");
      other.close();
    } finally {
      writer.exec("ROLLBACK");
      writer.close();
    }
  });

  test("runs under Deno through node:sqlite", async () => {
    const deno = Bun.which("deno") ?? join(import.meta.dir, "../../node_modules/.bin/deno");
    const path = freshPath();
    const script = `import { openStore } from "./src/stores/open-store.ts";
const s = await openStore(${JSON.stringify(`sqlite:${path}`)});
const q = s.queue({ name: "events" });
await q.push(["from-deno"]);
const got = await q.claim("d", { max: 1, leaseMs: 1000 });
console.log(JSON.stringify([(s as any).driver, got[0].body]));
await s.close();`;
    const p = Bun.spawn([deno, "eval", "--ext=ts", script], { cwd: join(import.meta.dir, "../.."), stdout: "pipe", stderr: "pipe" });
    const out = await new Response(p.stdout).text();
    const code = await p.exited;
    if (code !== 0) throw new Error(await new Response(p.stderr).text());
    expect(JSON.parse(out)).toEqual(["node", "from-deno"]);
  }, 30_000);
});
