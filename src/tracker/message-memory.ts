/**
 * @module What the tracker remembers per message: the `first` flags (first open, first click, through the
 * store's `setIfAbsent`) and the time of the message's first event (for the fast-click rule), with the
 * store as the truth and a bounded local memory in front of it.
 *
 * Hot-path cost: an open costs one flag in a `setIfAbsentMany`, unless this process already knows the flag
 * is set (a repeated open: no store call). A click costs that plus one key in a `getMany` of first-event
 * times, issued in parallel, unless known locally. Both are batched per event-loop turn: every request parsed
 * in one turn shares one `setIfAbsentMany` (one SQLite transaction, one Redis round trip) and one `getMany`.
 * Writing the first-event time never holds up a response.
 *
 * While the store is failing (the sink is degraded) nothing here waits for it: `first` is decided by
 * this process's memory alone (right for a single tracker; with several, an outage can mark a message's
 * first open twice), and the fast-click rule sees only the times this process has recorded.
 */
import type { Logger } from "../log.ts";
import type { KvStore } from "../stores/types.ts";
import { firstEventTimeKey, firstFlagKey } from "../core/tracking-event.ts";
import type { EventType } from "../core/event.ts";

export interface MessageMemoryOptions {
  kv: KvStore;
  log: Logger;
  /** How long the store keeps flags and first-event times. @default 30 days */
  ttlSeconds?: number;
  /** Entries kept locally per map. @default 100000 */
  maxEntries?: number;
  /** A KV call not answered within this long counts as a store failure. @default 1000 */
  timeoutMs?: number;
  /** True while the store is known to be failing: skip it. */
  degraded: () => boolean;
  /** Called when a KV call fails or times out. */
  onStoreFailure: (error: unknown) => void;
}

export interface MessageMemory {
  /**
   * Whether this is the first open (open or initial_open) or first click of the message: a boolean at once
   * when this process knows (a repeated hit, or the store is failing), else a promise of the store's answer.
   */
  isFirst(action: EventType, msgId: string, now: number): boolean | Promise<boolean>;
  /**
   * Milliseconds since the message's first event, or null when this hit is the first one known (it then
   * becomes the first event): at once when this process knows, else a promise of the store's answer.
   * Concurrent calls for one message share one store lookup.
   */
  sinceFirstEvent(msgId: string, now: number): number | null | Promise<number | null>;
  /** Records `now` as the message's first-event time unless one is known; never waits for the store. */
  noteEvent(msgId: string, now: number): void;
}

/** A Map used as a bounded memory: when full, the oldest fifth goes (insertion order). */
class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly limit: number) {
    super();
  }
  override set(key: K, value: V): this {
    if (this.size >= this.limit && !this.has(key)) {
      let drop = Math.max(1, Math.floor(this.limit / 5));
      for (const k of this.keys()) {
        if (drop-- <= 0) break;
        this.delete(k);
      }
    }
    return super.set(key, value);
  }
}

export function createMessageMemory(opts: MessageMemoryOptions): MessageMemory {
  const { kv, log, degraded, onStoreFailure, ttlSeconds = 30 * 86400, maxEntries = 100_000, timeoutMs = 1000 } = opts;
  const ttlMs = ttlSeconds * 1000;
  // Messages whose open / click flag is known to be set in the store, with when we learnt it (it expires there
  // after ttl). Keyed by the bare message id: looking up the concatenated "first:open:<id>" flattened and
  // hashed a new string on every hit (9-10% of the handler's in-process profile).
  const knownOpen = new BoundedMap<string, number>(maxEntries);
  const knownClick = new BoundedMap<string, number>(maxEntries);
  /** msgId → first-event time (unix ms). */
  const firstAt = new BoundedMap<string, number>(maxEntries);
  const lookups = new Map<string, Promise<number>>();

  const call = async <T>(what: string, p: () => Promise<T>): Promise<T | undefined> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        p(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (err) {
      onStoreFailure(err);
      log.debug(`Store call failed (${what}): ${(err as Error).message}`);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  };

  // Store calls are batched per event-loop turn: one setIfAbsentMany of first flags, one getMany and one
  // setMany of first-event times for all the requests parsed in that turn. A first flag costs one write
  // transaction on SQLite (about 90 µs, mostly the commit); batched, a burst of first hits pays it once.
  const flags = new Map<string, ((set: boolean | undefined) => void)[]>();
  const reads = new Map<string, ((value: string | null | undefined) => void)[]>();
  const writes = new Map<string, string>();
  let flushScheduled = false;
  const flush = () => {
    flushScheduled = false;
    if (flags.size > 0) {
      const batch = [...flags];
      flags.clear();
      void call("setIfAbsentMany", () => kv.setIfAbsentMany(batch.map(([k]) => k), { ttlSeconds })).then((set) => {
        batch.forEach(([, waiters], i) => {
          // A key asked twice in one turn (only after its memory expired) still has one winner.
          waiters.forEach((w, j) => w(set ? j === 0 && set[i] === true : undefined));
        });
      });
    }
    if (reads.size > 0) {
      const batch = [...reads];
      reads.clear();
      void call("get first-event times", () => kv.getMany(batch.map(([k]) => k))).then((values) => {
        batch.forEach(([, waiters], i) => {
          for (const w of waiters) w(values ? values[i] ?? null : undefined);
        });
      });
    }
    if (writes.size > 0) {
      const entries = [...writes];
      writes.clear();
      if (!degraded()) void call("set first-event times", () => kv.setMany(entries, { ttlSeconds }));
    }
  };
  const schedule = () => {
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  };
  /** The stored first-event time: a number, null when absent, undefined when the store did not answer. */
  const readFirstAt = (msgId: string) =>
    new Promise<number | null | undefined>((resolve) => {
      const key = firstEventTimeKey(msgId);
      const waiter = (v: string | null | undefined) => resolve(v === undefined ? undefined : v !== null && /^\d+$/.test(v) ? Number(v) : null);
      const list = reads.get(key);
      if (list) list.push(waiter);
      else reads.set(key, [waiter]);
      schedule();
    });
  /** True when this call set the flag in the store, undefined when the store did not answer. */
  const setFlag = (key: string) =>
    new Promise<boolean | undefined>((resolve) => {
      const list = flags.get(key);
      if (list) list.push(resolve);
      else flags.set(key, [resolve]);
      schedule();
    });
  const writeFirstAt = (msgId: string, at: number) => {
    if (degraded()) return;
    writes.set(firstEventTimeKey(msgId), String(at));
    schedule();
  };

  return {
    // Not an async function: a repeated hit (most hits under load) is answered without a promise.
    isFirst(action, msgId, now) {
      const known = action === "click" ? knownClick : knownOpen;
      const learnt = known.get(msgId);
      if (learnt !== undefined && now - learnt < ttlMs) return false;
      known.set(msgId, now);
      // Unknown here, or learnt longer ago than the flag lives: while the store fails, that means first.
      if (degraded()) return true;
      // The store did not answer: decide as in an outage, by this process's memory (we had not seen it).
      return setFlag(firstFlagKey(action, msgId)).then((set) => set ?? true);
    },
    // Like isFirst, a repeated click (known time) is answered without a promise.
    sinceFirstEvent(msgId, now) {
      const known = firstAt.get(msgId);
      if (known !== undefined && now - known < ttlMs) return now - known;
      const inFlight = lookups.get(msgId);
      if (inFlight) return inFlight.then((at) => Math.max(0, now - at));
      if (degraded()) {
        firstAt.set(msgId, now);
        return null;
      }
      // Remember `now` at once, so concurrent hits on this message see a first event even before the
      // store answers; the store's earlier time, if any, replaces it.
      firstAt.set(msgId, now);
      let stored = false;
      const lookup = (async (): Promise<number> => {
        const at = await readFirstAt(msgId);
        if (typeof at === "number" && at <= now) {
          firstAt.set(msgId, at);
          stored = true;
          return at;
        }
        if (at === null) writeFirstAt(msgId, now);
        return now;
      })().finally(() => lookups.delete(msgId));
      lookups.set(msgId, lookup);
      // This hit is the message's first event unless the store knew an earlier one.
      return lookup.then((at) => (stored ? now - at : null));
    },
    noteEvent(msgId, now) {
      if (firstAt.has(msgId) || lookups.has(msgId)) return;
      firstAt.set(msgId, now);
      if (degraded()) return;
      // Off the hot path: a click on another tracker may have written an earlier time; keep that one.
      void readFirstAt(msgId).then((stored) => {
        if (typeof stored === "number") firstAt.set(msgId, Math.min(stored, firstAt.get(msgId) ?? Infinity));
        else if (stored === null) writeFirstAt(msgId, now);
      });
    },
  };
}
