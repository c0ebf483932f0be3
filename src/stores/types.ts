/** @module The two store ports every service talks through: an at-least-once event queue and a TTL key-value map. */

/** One event handed out by {@link EventQueue.claim}; ack it by `id` once its consumer is done with it. */
export interface ClaimedEvent {
  /** Backend-assigned, unique within the queue, increasing in push order for one producer. */
  readonly id: string;
  /** Exactly the string that was pushed. */
  readonly body: string;
  /** 1 on first delivery; more when a lease expired and the event was handed out again. */
  readonly deliveries: number;
}

export interface ClaimOptions {
  /** At most this many events. */
  max: number;
  /** Events not acked within this many milliseconds are handed out again, to this or another consumer. */
  leaseMs: number;
  /** When nothing is claimable, wait up to this long for a push before resolving with `[]`. @default 0 */
  waitMs?: number;
}

export interface QueueStats {
  /** Events pushed and not yet acked by this queue's group (claimed or not). */
  depth: number;
  /** Of those, how many are currently leased to a consumer. */
  pending: number;
  /** Age in milliseconds of the oldest unacked event, or null when there is none. */
  oldestAgeMs: number | null;
}

/**
 * A queue as seen by one consumer group. Every group sees every event pushed to the queue's name
 * (a group that is new starts from the oldest event still retained); within a group each event is
 * leased to one consumer at a time and is done once acked.
 */
export interface EventQueue {
  /**
   * Appends `bodies` in order; resolves with their ids once they are durable in the store (an id is "" in
   * the one case where a backend cannot tell it: a resent push that had landed before, on Redis).
   * @throws {UncertainPushError} (uncertain-push.ts) when the push may have landed despite the failure.
   */
  push(bodies: readonly string[]): Promise<string[]>;
  /** Leases up to `max` events to `consumer`: first ones whose lease expired, then new ones in push order. */
  claim(consumer: string, opts: ClaimOptions): Promise<ClaimedEvent[]>;
  /** Marks events done for this group. Unknown or already-acked ids are ignored. */
  ack(ids: readonly string[]): Promise<void>;
  /** Depth and lag figures for metrics. */
  stats(): Promise<QueueStats>;
}

export interface QueueRef {
  /** The queue: `events` is what the tracker fills and the feeder drains; `dead-letters` holds failed batches. */
  name: string;
  /** The consumer group; each feeder sink has its own, so one slow sink never stalls another. @default "default" */
  group?: string;
}

export interface TtlOptions {
  /** Seconds until the entry expires; 0 means it never does. */
  ttlSeconds: number;
}

/** Key → string value with expiry, honoured exactly: an expired entry is never returned. */
export interface KvStore {
  setMany(entries: Iterable<readonly [key: string, value: string]>, opts: TtlOptions): Promise<void>;
  /** Values in the order of `keys`, null where missing or expired. */
  getMany(keys: readonly string[]): Promise<(string | null)[]>;
  /** Sets `key` (to "1") only if it is absent or expired; true for the one caller that set it. */
  setIfAbsent(key: string, opts: TtlOptions): Promise<boolean>;
  /**
   * {@link setIfAbsent} for many keys in one store call (one transaction, one round trip): one boolean per
   * key in the order of `keys`, true exactly for the keys this call set. Across callers and processes each
   * key still has one winner; a key repeated within `keys` can win only at its first position.
   */
  setIfAbsentMany(keys: readonly string[], opts: TtlOptions): Promise<boolean[]>;
}

/** An open store: one backend, one connection (or file), shared by every port taken from it. */
export interface Store {
  /** `sqlite:/path` or `redis://host:port/db`, without any password: safe to log. */
  readonly description: string;
  readonly kv: KvStore;
  queue(ref: QueueRef): EventQueue;
  /** Resolves when the store answers; rejects with a one-line reason otherwise. For /healthz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
