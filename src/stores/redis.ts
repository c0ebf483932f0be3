/**
 * @module The shared store for several hosts: one Redis (ioredis), queues as Streams with consumer groups.
 *
 * Key layout, under an optional prefix (default "", so the original's keys line up exactly):
 * - KV keys as the callers name them: `msgID_<id>` (SET … EX), `acct_headers` (SET, no TTL), `first:open:<id>` (SET NX EX;
 *   a batch of them in one Lua call).
 * - A queue `<name>` is the Stream `mtatrack:queue:<name>`, one field `b` holding the body; each
 *   {@link QueueRef.group} is a consumer group on it, created at id 0 (a new group starts from the oldest
 *   retained entry).
 * - `mtatrack:pushed:<handle>:<n>`: bitmaps of which pushes of a queue handle landed (a bit per push, set in
 *   the push's own Lua call, kept a day), read only when a push's answer was lost (UncertainPushError).
 *
 * Claims are a plain XREADGROUP; every quarter lease (at most every second) per queue handle, a Lua call instead
 * does XAUTOCLAIM (leases older than `leaseMs`, delivery counts from XPENDING) and then XREADGROUP for the rest.
 * Retention: from ack(), at most every few seconds, one Lua call trims (XTRIM MINID ~) everything below the oldest entry some group still needs (its oldest pending id, or its last-delivered id).
 * No MAXLEN trimming: a full queue is never cut. While the stream has no group, nothing is trimmed.
 *
 * Two connections (redis-link.ts): KV calls, pushes and PING go on the {@link RedisLink} (Bun's built-in
 * client under Bun); claims, acks, stats and trims on an ioredis connection made on first use, plus a
 * second one for blocking reads.
 */
import type { Redis, RedisOptions } from "ioredis";
import { evalScript, ioredisLink, luaScript, type LuaScript, type RedisLink } from "./redis-link.ts";
import type { ClaimedEvent, ClaimOptions, EventQueue, KvStore, QueueRef, QueueStats, Store, TtlOptions } from "./types.ts";
import { UncertainPushError } from "./uncertain-push.ts";

export interface RedisStoreOptions {
  /** Prepended to every key this store touches. @default "" */
  prefix?: string;
  /** Extra ioredis options (TLS CA, timeouts…); merged over the ones derived from the URL. */
  redis?: RedisOptions;
  /** Trim acked stream entries at most this often per queue handle (0 = never). @default 5000 */
  trimIntervalMs?: number;
  /**
   * When trimming, forget consumers idle this long with nothing pending (-1 = never), so names of feeders
   * that are gone do not pile up in the group. @default 86400000 (one day)
   */
  consumerIdleMs?: number;
}

/** A {@link Store} on Redis, plus maintenance calls the port does not need. */
export interface RedisStore extends Store {
  /**
   * Trims entries every group has acked from the queue's stream now, and forgets idle consumers with nothing
   * pending; resolves with how many entries were removed.
   */
  trim(queue: string, opts?: { consumerIdleMs?: number }): Promise<number>;
  /** The ioredis connection (made on the first call where KV and pushes use Bun's client), for tests and maintenance. */
  ioredis(): Promise<Redis>;
}

/** How the store reaches its server: the link for KV and pushes, and the ioredis connection for the rest. */
export interface RedisConnections {
  link: RedisLink;
  /** Makes the ioredis connection; called once, on first need. */
  ioredis: () => Promise<Redis>;
}

/** The stream key of a queue, without the prefix. */
export function streamKey(name: string): string {
  return `mtatrack:queue:${name}`;
}

// KEYS[1] stream; ARGV: group, consumer, leaseMs, max. Returns {claimed, deliveries, fresh}.
// XAUTOCLAIM bumps the delivery count of what it claims; XPENDING over the claimed range reads it back.
const CLAIM = luaScript(`
local max = tonumber(ARGV[4])
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0', 'COUNT', max)
local claimed = {}
for _, e in ipairs(r[2]) do
  if e and e ~= false and e[2] then claimed[#claimed + 1] = e end
end
local deliveries = {}
if #claimed > 0 then
  for i, e in ipairs(claimed) do
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
    deliveries[i] = (p[1] and p[1][4]) or 1
  end
end
local fresh = {}
local room = max - #claimed
if room > 0 then
  local x = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', room, 'STREAMS', KEYS[1], '>')
  if x and x[1] then fresh = x[1][2] end
end
return {claimed, deliveries, fresh}
`);

// KEYS[1] stream, KEYS[2] the pushing handle's bitmap of landed pushes; ARGV[1] this push's bit in it,
// ARGV[2] the bitmap's TTL in seconds, ARGV[3..] bodies. Appends the bodies in order, then sets the bit in
// the same atomic call: a push whose answer was lost can be looked up (UncertainPushError). A push whose bit
// is already set has landed before (ioredis resends a command whose answer a reconnect lost): it appends
// nothing and returns an empty list. Else returns the ids.
const PUSH = luaScript(`
if redis.call('GETBIT', KEYS[2], ARGV[1]) == 1 then return {} end
local ids = {}
for i = 3, #ARGV do ids[i - 2] = redis.call('XADD', KEYS[1], '*', 'b', ARGV[i]) end
redis.call('SETBIT', KEYS[2], ARGV[1], 1)
redis.call('EXPIRE', KEYS[2], ARGV[2])
return ids
`);

/** Pushes per landed-push bitmap (8 KiB each). */
const PUSHES_PER_BITMAP = 65536;
/**
 * How long the store keeps a push's landed bit: a push whose answer was lost is looked up when the store is
 * back, so an outage longer than this leaves it unknown (then replayed; see the event sink).
 */
const LANDED_TTL_SECONDS = 86400;

/** Bodies per push script call, so one call never holds Redis for long. */
const MAX_PUSH_ARGS = 1000;

// KEYS: the flags; ARGV[1] "EX", "PX" or "" (no expiry), ARGV[2] the amount. Returns 1 per key this call set, else 0.
// One script instead of N pipelined SET NX: one reply to parse instead of N, and a repeated key sees its
// earlier position's write.
const SET_IF_ABSENT = luaScript(`
local unit, amount = ARGV[1], ARGV[2]
local out = {}
for i, k in ipairs(KEYS) do
  local r
  if unit == '' then r = redis.call('SET', k, '1', 'NX') else r = redis.call('SET', k, '1', unit, amount, 'NX') end
  if r then out[i] = 1 else out[i] = 0 end
end
return out
`);

/** Keys per setIfAbsentMany script call, so one call never holds Redis for long. */
const MAX_FLAG_KEYS = 1000;

// KEYS[1] stream; ARGV[1] idle ms after which a consumer with nothing pending is forgotten (-1 = never).
// Trims below the smallest id any group still needs. Returns entries removed.
const TRIM = luaScript(`
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if not ok or #groups == 0 then return 0 end
local idleMax = tonumber(ARGV[1])
local function lt(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local low = nil
for _, g in ipairs(groups) do
  local f = {}
  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
  if idleMax >= 0 then
    for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], f['name'])) do
      local cf = {}
      for i = 1, #c, 2 do cf[c[i]] = c[i + 1] end
      if tonumber(cf['pending']) == 0 and tonumber(cf['idle']) >= idleMax then
        redis.call('XGROUP', 'DELCONSUMER', KEYS[1], f['name'], cf['name'])
      end
    end
  end
  local need = f['last-delivered-id']
  if tonumber(f['pending']) > 0 then
    local s = redis.call('XPENDING', KEYS[1], f['name'])
    if s[2] and lt(s[2], need) then need = s[2] end
  end
  if low == nil or lt(need, low) then low = need end
end
if low == '0-0' then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', '~', low)
`);

type RawEntry = [id: string, fields: string[]];

const STREAM_ID = /^\d{1,20}(-\d{1,20})?$/;

/** A consumer looks for expired leases every quarter of its lease, and at least this often. */
const MAX_RECLAIM_INTERVAL_MS = 1000;

/** Longest single XREADGROUP BLOCK inside one claim; between slices expired leases are looked for again. */
const BLOCK_SLICE_MS = 500;

/**
 * Opens a Redis store from an already parsed connection description. `openStore()` is the usual way in:
 * it parses the URL and checks the server answers.
 */
export function createRedisStore(connections: RedisConnections, description: string, opts: RedisStoreOptions = {}): RedisStore {
  return new RedisStoreImpl(connections, description, opts);
}

/** ioredis options for `url` (redis:// or rediss://), with the defaults this store relies on. */
export function redisOptionsFromUrl(url: URL, extra: RedisOptions = {}): RedisOptions {
  const db = url.pathname.replace(/^\//, "");
  const base: RedisOptions = {
    host: url.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1",
    port: url.port ? Number(url.port) : 6379,
    db: db ? Number(db) : 0,
    lazyConnect: true,
    // Fail a command after two reconnect attempts rather than hanging: the tracker spools, the feeder retries.
    maxRetriesPerRequest: 2,
    connectTimeout: 5000,
    // Reconnect forever, backing off to 2 s: a Redis restart must not need a restart of ours.
    retryStrategy: (times: number) => Math.min(times * 100, 2000),
  };
  if (url.username) base.username = decodeURIComponent(url.username);
  if (url.password) base.password = decodeURIComponent(url.password);
  if (url.protocol === "rediss:") base.tls = { servername: base.host, ...(extra.tls ?? {}) };
  return { ...base, ...extra, ...(base.tls ? { tls: base.tls } : {}) };
}

class RedisStoreImpl implements RedisStore {
  readonly kv: KvStore;
  readonly link: RedisLink;
  readonly prefix: string;
  readonly trimIntervalMs: number;
  readonly consumerIdleMs: number;
  readonly #makeIoredis: () => Promise<Redis>;
  #ioredis: Promise<Redis> | null = null;
  /** The ioredis connection as a link, for the claim and trim scripts. */
  #ioredisLink: Promise<RedisLink> | null = null;
  #blocking: Promise<Redis> | null = null;
  #closed = false;

  constructor(connections: RedisConnections, readonly description: string, opts: RedisStoreOptions) {
    this.link = connections.link;
    this.#makeIoredis = connections.ioredis;
    this.prefix = opts.prefix ?? "";
    this.trimIntervalMs = opts.trimIntervalMs ?? 5000;
    this.consumerIdleMs = opts.consumerIdleMs ?? 86_400_000;
    this.kv = new RedisKv(this);
  }

  key(k: string): string {
    return this.prefix + k;
  }

  ioredis(): Promise<Redis> {
    if (this.#closed) return Promise.reject(new Error(`Store "${this.description}" is closed`));
    this.#ioredis ??= this.#makeIoredis().then((client) => {
      // Without a listener ioredis prints every reconnect error; callers see failures on their own commands.
      client.on("error", () => {});
      return client;
    });
    return this.#ioredis;
  }

  /** Runs one of the consumer-side scripts (claim, trim) on the ioredis connection. */
  async consumerScript(script: LuaScript, key: string, args: readonly (string | number)[]): Promise<unknown> {
    this.#ioredisLink ??= this.ioredis().then(ioredisLink);
    return await evalScript(await this.#ioredisLink, script, [key], args.map(String));
  }

  /** A second connection for XREADGROUP BLOCK, which would stall every other command on the shared one. */
  blocking(): Promise<Redis> {
    if (this.#closed) return Promise.reject(new Error(`Store "${this.description}" is closed`));
    this.#blocking ??= this.ioredis().then((client) => {
      const blocking = client.duplicate();
      blocking.on("error", () => {});
      return blocking;
    });
    return this.#blocking;
  }

  get closed(): boolean {
    return this.#closed;
  }

  queue(ref: QueueRef): EventQueue {
    return new RedisQueue(this, ref.name, ref.group ?? "default");
  }

  async trim(queue: string, opts: { consumerIdleMs?: number } = {}): Promise<number> {
    const idle = opts.consumerIdleMs ?? this.consumerIdleMs;
    return Number(await this.consumerScript(TRIM, this.key(streamKey(queue)), [idle]));
  }

  async ping(): Promise<void> {
    await this.link.send("PING", []);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const [ioredis, blocking] = [this.#ioredis, this.#blocking];
    // One ioredis client may be both the link and the ioredis connection (off Bun): quit it once.
    const separate = ioredis ? await ioredis.then((c) => c, () => null) : null;
    await blocking?.then((b) => b.disconnect(), () => {});
    await this.link.close();
    if (separate && separate.status !== "end") {
      try {
        await separate.quit();
      } catch {
        separate.disconnect();
      }
    }
  }
}

function isNoGroup(err: unknown): boolean {
  return err instanceof Error && /NOGROUP|no such key/i.test(err.message);
}

function toEvent(e: RawEntry, deliveries: number): ClaimedEvent {
  const f = e[1];
  let body = "";
  for (let i = 0; i + 1 < f.length; i += 2) if (f[i] === "b") body = f[i + 1]!;
  return { id: e[0], body, deliveries };
}

class RedisQueue implements EventQueue {
  readonly #key: string;
  #groupReady: Promise<void> | null = null;
  #lastTrim = 0;
  /** When this handle next looks for expired leases (XAUTOCLAIM); 0 = on its first claim. */
  #nextReclaimAt = 0;

  /** This handle's name in its landed-push bitmaps, and how many pushes it has made. */
  readonly #producer = crypto.getRandomValues(new Uint8Array(9)).toBase64({ alphabet: "base64url" });
  #pushes = 0;

  constructor(private readonly s: RedisStoreImpl, name: string, private readonly group: string) {
    this.#key = s.key(streamKey(name));
  }

  /**
   * @throws {UncertainPushError} for any failure: the call may have run before the connection broke, and the
   * error's `landedBodies()` reads the push's landed bit once Redis answers again.
   */
  async push(bodies: readonly string[]): Promise<string[]> {
    if (bodies.length === 0) return [];
    // A batch is one Lua call: all of it lands or none (a retried push duplicates nothing of a failed one), and
    // it measured about 15% faster than 100 pipelined XADDs (one reply instead of a hundred).
    const ids: string[] = [];
    for (let i = 0; i < bodies.length; i += MAX_PUSH_ARGS) {
      const chunk = bodies.length <= MAX_PUSH_ARGS ? bodies : bodies.slice(i, i + MAX_PUSH_ARGS);
      const n = this.#pushes++;
      const bitmap = this.s.key(`mtatrack:pushed:${this.#producer}:${Math.floor(n / PUSHES_PER_BITMAP)}`);
      const bit = String(n % PUSHES_PER_BITMAP);
      let reply: unknown;
      try {
        reply = await evalScript(this.s.link, PUSH, [this.#key, bitmap], [bit, String(LANDED_TTL_SECONDS), ...chunk]);
      } catch (err) {
        // The chunks before this one were answered: they are in. This one is in if its bit is set; none after it was sent.
        const before = bodies.slice(0, i);
        const upTo = i + chunk.length;
        const landedBodies = async () => (Number(await this.s.link.send("GETBIT", [bitmap, bit])) === 1 ? bodies.slice(0, upTo) : before);
        throw new UncertainPushError(`push of ${chunk.length} event(s) failed: ${(err as Error)?.message ?? err}`, landedBodies, { cause: err });
      }
      const got = reply as unknown[];
      // Empty: this very push had landed already, and its ids went with the answer that was lost.
      for (let j = 0; j < chunk.length; j++) ids.push(got.length === chunk.length ? String(got[j]) : "");
    }
    return ids;
  }

  /** Creates the group at id 0 (MKSTREAM) once; again after a NOGROUP (e.g. a Redis restarted without persistence). */
  #ensureGroup(): Promise<void> {
    this.#groupReady ??= (async () => {
      try {
        await (await this.s.ioredis()).xgroup("CREATE", this.#key, this.group, "0", "MKSTREAM");
      } catch (err) {
        if (!(err instanceof Error && err.message.includes("BUSYGROUP"))) {
          this.#groupReady = null;
          throw err;
        }
      }
    })();
    return this.#groupReady;
  }

  async #withGroup<T>(fn: () => Promise<T>): Promise<T> {
    await this.#ensureGroup();
    try {
      return await fn();
    } catch (err) {
      if (!isNoGroup(err)) throw err;
      this.#groupReady = null;
      await this.#ensureGroup();
      return await fn();
    }
  }

  async #claimNow(consumer: string, max: number, leaseMs: number): Promise<ClaimedEvent[]> {
    if (this.s.closed) return [];
    const t = Date.now();
    if (t < this.#nextReclaimAt) {
      // Fast path: a plain XREADGROUP. Passing entries through Lua halves the throughput (measured), so the
      // Lua call that also reclaims expired leases runs only every quarter lease (at most every second).
      const client = await this.s.ioredis();
      const res = (await this.#withGroup(() =>
        client.xreadgroup("GROUP", this.group, consumer, "COUNT", max, "STREAMS", this.#key, ">"),
      )) as [string, RawEntry[]][] | null;
      return (res?.[0]?.[1] ?? []).map((e) => toEvent(e, 1));
    }
    this.#nextReclaimAt = t + Math.min(leaseMs / 4, MAX_RECLAIM_INTERVAL_MS);
    const [claimed, deliveries, fresh] = (await this.#withGroup(() =>
      this.s.consumerScript(CLAIM, this.#key, [this.group, consumer, leaseMs, max]),
    )) as [RawEntry[], number[], RawEntry[]];
    const out = claimed.map((e, i) => toEvent(e, Number(deliveries[i] ?? 1)));
    for (const e of fresh) out.push(toEvent(e, 1));
    return out;
  }

  /**
   * Leases up to `max` events. With `waitMs`, blocks on a second connection (XREADGROUP BLOCK) for new ones,
   * in slices of at most {@link BLOCK_SLICE_MS} so that leases expiring meanwhile are noticed too.
   */
  async claim(consumer: string, opts: ClaimOptions): Promise<ClaimedEvent[]> {
    const max = Math.max(1, Math.trunc(opts.max));
    const leaseMs = Math.max(0, Math.trunc(opts.leaseMs));
    const deadline = Date.now() + Math.max(0, Math.trunc(opts.waitMs ?? 0));
    for (;;) {
      const got = await this.#claimNow(consumer, max, leaseMs);
      const left = deadline - Date.now();
      if (got.length > 0 || left <= 0 || this.s.closed) return got;
      let res: [string, RawEntry[]][] | null;
      try {
        const blocking = await this.s.blocking();
        res = (await this.#withGroup(() =>
          blocking.xreadgroup("GROUP", this.group, consumer, "COUNT", max, "BLOCK", Math.max(1, Math.min(left, BLOCK_SLICE_MS)), "STREAMS", this.#key, ">"),
        )) as [string, RawEntry[]][] | null;
      } catch (err) {
        // close() while a claim waits ends the wait with [] rather than an error. Anything the server handed
        // out on that read stays pending and comes back after its lease: at-least-once holds.
        if (this.s.closed) return [];
        throw err;
      }
      const fresh = (res?.[0]?.[1] ?? []).map((e) => toEvent(e, 1));
      if (fresh.length > 0) return fresh;
    }
  }

  async ack(ids: readonly string[]): Promise<void> {
    // Anything that is not a stream id cannot be ours; XACK would reject the whole call for it.
    const valid = ids.filter((id) => STREAM_ID.test(id));
    if (valid.length === 0) return;
    const client = await this.s.ioredis();
    try {
      await client.xack(this.#key, this.group, ...valid);
    } catch (err) {
      // No group or stream: nothing was ever claimed here, so there is nothing to ack.
      if (!isNoGroup(err)) throw err;
    }
    const t = Date.now();
    if (this.s.trimIntervalMs > 0 && t - this.#lastTrim >= this.s.trimIntervalMs) {
      this.#lastTrim = t;
      // Best effort: a failed trim only delays retention.
      await this.s.consumerScript(TRIM, this.#key, [this.s.consumerIdleMs]).catch(() => 0);
    }
  }

  async stats(): Promise<QueueStats> {
    const c = await this.s.ioredis();
    const [groupsRes, timeRes, lenRes] = (await c.pipeline().call("XINFO", "GROUPS", this.#key).time().xlen(this.#key).exec()) ?? [];
    const [sec, usec] = (timeRes?.[1] as [string, string] | undefined) ?? [String(Math.floor(Date.now() / 1000)), "0"];
    const nowMs = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    const len = Number(lenRes?.[1] ?? 0);
    if (groupsRes?.[0]) {
      if (isNoGroup(groupsRes[0])) return { depth: 0, pending: 0, oldestAgeMs: null };
      throw groupsRes[0];
    }
    const groups = (groupsRes?.[1] ?? []) as unknown[][];
    let info: Record<string, unknown> | null = null;
    for (const g of groups) {
      const f: Record<string, unknown> = {};
      for (let i = 0; i + 1 < g.length; i += 2) f[String(g[i])] = g[i + 1];
      if (f.name === this.group) info = f;
    }
    if (!info) {
      // The group does not exist yet: everything retained is waiting for it.
      const first = (await c.xrange(this.#key, "-", "+", "COUNT", 1))[0];
      return { depth: len, pending: 0, oldestAgeMs: first ? Math.max(0, nowMs - idMs(first[0])) : null };
    }
    const lastDelivered = String(info["last-delivered-id"]);
    const pelCount = Number(info.pending ?? 0);
    // `lag` (Redis >= 7) is null when Redis cannot tell; XLEN is then an upper bound.
    const lag = info.lag === null || info.lag === undefined ? len : Number(info.lag);
    const [summary, next, pel] = (await c
      .pipeline()
      .xpending(this.#key, this.group)
      .xrange(this.#key, `(${lastDelivered}`, "+", "COUNT", 1)
      .exec()) ?? [];
    void pel;
    const minPending = pelCount > 0 ? (summary?.[1] as [number, string, string, unknown] | undefined)?.[1] ?? null : null;
    const firstWaiting = (next?.[1] as RawEntry[] | undefined)?.[0]?.[0] ?? null;
    const oldest = [minPending, firstWaiting].filter((x): x is string => typeof x === "string").map(idMs);
    // "pending" in the port means live leases; Redis's PEL also holds expired ones, which are still unacked.
    return {
      depth: pelCount + lag,
      pending: pelCount,
      oldestAgeMs: oldest.length ? Math.max(0, nowMs - Math.min(...oldest)) : null,
    };
  }
}

function idMs(id: string): number {
  return Number(id.split("-")[0]);
}

/** `SET` expiry arguments: EX for whole seconds (as the original wrote them), PX for fractions, none for 0. */
function expiryArgs(ttlSeconds: number): ["EX" | "PX", number] | [] {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds < 0) throw new RangeError(`ttlSeconds must be 0 or more, not ${ttlSeconds}`);
  if (ttlSeconds === 0) return [];
  return Number.isInteger(ttlSeconds) ? ["EX", ttlSeconds] : ["PX", Math.max(1, Math.round(ttlSeconds * 1000))];
}

class RedisKv implements KvStore {
  constructor(private readonly s: RedisStoreImpl) {}

  async setMany(entries: Iterable<readonly [key: string, value: string]>, opts: TtlOptions): Promise<void> {
    const expiry = expiryArgs(opts.ttlSeconds).map(String);
    const commands: [string, string[]][] = [];
    for (const [k, v] of entries) commands.push(["SET", [this.s.key(k), v, ...expiry]]);
    if (commands.length > 0) await this.s.link.sendMany(commands);
  }

  async getMany(keys: readonly string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    return (await this.s.link.send("MGET", keys.map((k) => this.s.key(k)))) as (string | null)[];
  }

  async setIfAbsent(key: string, opts: TtlOptions): Promise<boolean> {
    const res = await this.s.link.send("SET", [this.s.key(key), "1", ...expiryArgs(opts.ttlSeconds).map(String), "NX"]);
    return res === "OK";
  }

  async setIfAbsentMany(keys: readonly string[], opts: TtlOptions): Promise<boolean[]> {
    const exp = expiryArgs(opts.ttlSeconds);
    if (keys.length === 0) return [];
    const [unit, amount] = exp.length === 2 ? exp : ["", 0];
    const calls: Promise<unknown>[] = [];
    // Chunks are sent back to back on the one connection: still one round trip, in key order.
    for (let i = 0; i < keys.length; i += MAX_FLAG_KEYS) {
      const chunk = keys.slice(i, i + MAX_FLAG_KEYS).map((k) => this.s.key(k));
      calls.push(evalScript(this.s.link, SET_IF_ABSENT, chunk, [unit, String(amount)]));
    }
    const out: boolean[] = [];
    for (const r of await Promise.all(calls)) for (const v of r as unknown[]) out.push(Number(v) === 1);
    return out;
  }
}
