/**
 * @module The feeder service: for each sink, claim from the `events` queue in the sink's own consumer group,
 * enrich, batch, deliver (several batches in flight), and ack only what the sink accepted.
 */
import { BatchBuilder, type Batch } from "../core/batcher.ts";
import { silentLogger, type Logger } from "../log.ts";
import type { ClaimedEvent, EventQueue, Store } from "../stores/types.ts";
import { errorText, sleep as defaultSleep } from "./_util.ts";
import { Deliverer } from "./delivery.ts";
import { FeederMetrics } from "./metrics.ts";
import { prepare, type Item } from "./prepare.ts";
import type { Sink } from "./sink.ts";

/** The queue the tracker fills. */
export const eventsQueue = "events";
/** Where refused batches and malformed records go. */
export const deadLettersQueue = "dead-letters";

export interface FeederDeps {
  store: Store;
  sinks: readonly Sink[];
  /** This process's consumer name in every group (unique per process: a restarted feeder is a new consumer). */
  consumer: string;
  /** Batches in flight per sink. @default 4 */
  concurrency?: number;
  /** Lease on claimed events; a crashed feeder's events go to another consumer this long after the claim. @default 120000 */
  leaseMs?: number;
  /** How long close() waits for answers to the batches in flight. @default 10000 */
  shutdownTimeoutMs?: number;
  /** Events per claim (and per KV round trip). @default 2000 */
  claimMax?: number;
  /** Longest wait for new events in one claim; also bounds how late close() notices. @default 1000 */
  idleWaitMs?: number;
  /**
   * After a claim that came back with fewer than `claimMax` events, wait this long before the next one, so
   * that claims carry the events of a moment instead of the few pushed since the last claim. @default 20
   */
  claimLingerMs?: number;
  /** @default Date.now */
  now?: () => number;
  /** @default Math.random */
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  log?: Logger;
  metrics?: FeederMetrics;
  /** Retry backoff. @default { baseMs: 500, maxMs: 60000 } */
  backoff?: { baseMs?: number; maxMs?: number };
}

export interface FeederHandle {
  /** Stops claiming, sends the partial batches, waits up to the shutdown timeout, leaves the rest unacked. */
  close(): Promise<void>;
}

/**
 * Starts one runner per sink.
 * @example
 * const feeder = startFeeder({ store, sinks: [createSparkPostSink({ url, apiKey, limits })], consumer: "host-1" });
 * await waitForSignal(); await feeder.close();
 */
export function startFeeder(deps: FeederDeps): FeederHandle {
  const names = new Set<string>();
  for (const s of deps.sinks) {
    if (names.has(s.name)) throw new TypeError(`Cannot start the feeder: two sinks are named "${s.name}"`);
    names.add(s.name);
  }
  const runners = deps.sinks.map((sink) => new SinkRunner(sink, deps));
  let closing: Promise<void> | null = null;
  return {
    close() {
      closing ??= (async () => {
        await Promise.all(runners.map((r) => r.close()));
      })();
      return closing;
    },
  };
}

class SinkRunner {
  readonly #sink: Sink;
  readonly #queue: EventQueue;
  readonly #builder: BatchBuilder<Item>;
  readonly #deliverer: Deliverer;
  readonly #inFlight = new Set<Promise<void>>();
  /** Closed batches waiting for a delivery slot (a claim can close several at once). */
  readonly #ready: Batch<Item>[] = [];
  /** Queue ids in the open batch or in flight: a claim that hands them out again (lease renewed) is ignored. */
  readonly #held = new Set<string>();
  readonly #stop = new AbortController();
  readonly #abort = new AbortController();
  readonly #deps: FeederDeps;
  readonly #log: Logger;
  readonly #metrics: FeederMetrics;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #maxInFlight: number;
  readonly #loop: Promise<void>;

  constructor(sink: Sink, deps: FeederDeps) {
    this.#sink = sink;
    this.#deps = deps;
    this.#log = deps.log ?? silentLogger;
    this.#metrics = deps.metrics ?? new FeederMetrics();
    this.#now = deps.now ?? Date.now;
    this.#sleep = deps.sleep ?? defaultSleep;
    this.#queue = deps.store.queue({ name: eventsQueue, group: sink.name });
    this.#builder = new BatchBuilder(sink.limits);
    this.#maxInFlight = Math.max(1, Math.min(deps.concurrency ?? 4, sink.maxInFlight ?? Infinity));
    this.#deliverer = new Deliverer({
      sink,
      deadLetters: deps.store.queue({ name: deadLettersQueue }),
      signal: this.#abort.signal,
      now: this.#now,
      random: deps.random ?? Math.random,
      sleep: this.#sleep,
      log: this.#log,
      metrics: this.#metrics,
      backoff: deps.backoff,
    });
    this.#metrics.watchQueue(sink.name, this.#queue);
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    const stop = this.#stop.signal;
    const stopped = new Promise<void>((resolve) => stop.addEventListener("abort", () => resolve(), { once: true }));
    const idleWaitMs = this.#deps.idleWaitMs ?? 1000;
    const claimMax = this.#deps.claimMax ?? 2000;
    const leaseMs = this.#deps.leaseMs ?? 120_000;
    const claimLingerMs = this.#deps.claimLingerMs ?? 20;
    const claim = () => {
      const deadline = this.#builder.deadline();
      const waitMs = deadline === null ? idleWaitMs : Math.max(0, Math.min(idleWaitMs, deadline - this.#now()));
      return this.#queue.claim(this.#deps.consumer, { max: claimMax, leaseMs, waitMs });
    };
    const claimAfterLinger = async (): Promise<ClaimedEvent[]> => {
      await this.#sleep(claimLingerMs, stop);
      return stop.aborted ? [] : claim();
    };
    // One claim is always on its way while the previous one is enriched and batched: the store's round
    // trips overlap the CPU work instead of adding to it.
    let next: ReturnType<typeof claim> | null = null;
    let failures = 0;
    while (!stop.aborted) {
      if (this.#inFlight.size >= this.#maxInFlight || this.#ready.length > 0) {
        await Promise.race([...this.#inFlight, stopped]);
        continue;
      }
      if (this.#builder.aged(this.#now())) this.#dispatch(this.#builder.flush()!);
      try {
        // Typed: `next` is assigned below from `claimed`, which TypeScript would otherwise infer in a circle.
        const pending: Promise<ClaimedEvent[]> = next ?? claim();
        next = null;
        const claimed = await pending;
        failures = 0;
        const fresh = claimed.filter((c) => !this.#held.has(c.id));
        // Prefetch only while busy: an idle queue is polled with the age-bounded wait instead. Its failure
        // surfaces when it is awaited; the no-op handler only keeps it from counting as unhandled meanwhile.
        if (claimed.length > 0 && !stop.aborted) {
          // A short claim means the queue is drained as fast as it fills (serve's tracker pushes every
          // event-loop turn). Claiming again at once took the handful of events pushed since, each claim paying
          // a transaction or a round trip: serve answered 26% fewer requests a second (BENCHMARKS.md, serve).
          next = claimed.length < claimMax && claimLingerMs > 0 ? claimAfterLinger() : claim();
          next.catch(() => {});
        }
        if (fresh.length > 0) await this.#take(fresh);
      } catch (error) {
        this.#metrics.storeErrors.inc({ sink: this.#sink.name });
        const delay = Math.min(10_000, 200 * 2 ** Math.min(failures++, 6));
        this.#log.warn(`${this.#sink.name}: store claim or lookup failed (${errorText(error)}); retry in ${(delay / 1000).toFixed(1)} s`);
        await this.#sleep(delay, stop);
      }
    }
    // A prefetched claim's events are leased to us but never batched: they return after the lease. Take
    // them into the final flush instead, so a clean stop leaves nothing waiting for a lease to expire.
    if (next) {
      const claimed = await next.catch(() => []);
      const fresh = claimed.filter((c) => !this.#held.has(c.id));
      if (fresh.length > 0) await this.#take(fresh, this.#abort.signal).catch(() => {});
    }
  }

  /** Enriches and batches freshly claimed records; malformed and oversized ones are dead-lettered alone. */
  async #take(claimed: readonly { id: string; body: string }[], signal: AbortSignal = this.#stop.signal): Promise<void> {
    // The accounting lookup is retried here rather than dropping the claim: dropped events would wait out their lease.
    let prepared: Awaited<ReturnType<typeof prepare>> | undefined;
    const ok = await this.#deliverer.withStoreRetry(async () => {
      prepared = await prepare(claimed, this.#deps.store.kv, this.#sink);
    }, signal, "accounting lookup");
    if (!ok || !prepared) return; // stopping: the events come back after their lease
    await this.#batch(prepared);
  }

  async #batch(prepared: Awaited<ReturnType<typeof prepare>>): Promise<void> {
    if (prepared.missing > 0) {
      this.#metrics.enrichMissing.inc({ sink: this.#sink.name }, prepared.missing);
      this.#log.debug(`${this.#sink.name}: ${prepared.missing} of ${prepared.items.length} events have no accounting entry; sent without`);
    }
    if (prepared.skipped.length > 0) {
      this.#metrics.eventsSkipped.inc({ sink: this.#sink.name }, prepared.skipped.length);
      await this.#deliverer.withStoreRetry(() => this.#queue.ack(prepared.skipped), this.#abort.signal, "ack");
    }
    for (const c of prepared.corrupt.slice(0, 3)) this.#log.warn(`${this.#sink.name}: corrupt accounting entry ${c}; event sent without it`);
    const alone: { id: string; body: string; kind: "malformed" | "oversized"; reason: string }[] =
      prepared.malformed.map((m) => ({ ...m, kind: "malformed" as const, reason: `malformed queue record: ${m.reason}` }));
    for (const item of prepared.items) {
      const { closed, oversized } = this.#builder.add(item, item.bytes, this.#now());
      if (oversized) alone.push({ id: item.id, body: item.body, kind: "oversized", reason: `event of ${item.bytes} bytes exceeds the batch limit of ${this.#sink.limits.maxBytes}` });
      else this.#held.add(item.id);
      for (const batch of closed) this.#dispatch(batch);
    }
    for (const a of alone) {
      this.#log.warn(`${this.#sink.name}: queue record ${a.id} moved to the dead letters: ${a.reason}`);
      if (await this.#deliverer.deadLetter([a], { kind: a.kind, reason: a.reason, status: null })) {
        await this.#deliverer.withStoreRetry(() => this.#queue.ack([a.id]), this.#abort.signal, "ack");
      }
    }
  }

  #dispatch(batch: Batch<Item>): void {
    this.#ready.push(batch);
    this.#pump();
  }

  #pump(): void {
    while (this.#inFlight.size < this.#maxInFlight && this.#ready.length > 0 && !this.#abort.signal.aborted) this.#start(this.#ready.shift()!);
  }

  #start(batch: Batch<Item>): void {
    this.#metrics.inFlight.inc({ sink: this.#sink.name });
    let run: Promise<void> | undefined = undefined;
    run = (async () => {
      await Promise.resolve(); // so that `run` is assigned before the finally block can run
      try {
        const done = await this.#deliverer.deliver(batch.items);
        if (done.length > 0) await this.#deliverer.withStoreRetry(() => this.#queue.ack(done.map((i) => i.id)), this.#abort.signal, "ack");
      } catch (error) {
        // Not expected (deliver() turns every failure into a verdict); the events stay unacked and come back.
        this.#log.error(`${this.#sink.name}: batch of ${batch.items.length} events abandoned: ${errorText(error)}`);
      } finally {
        for (const i of batch.items) this.#held.delete(i.id);
        this.#metrics.inFlight.dec({ sink: this.#sink.name });
        this.#inFlight.delete(run!);
        this.#pump();
      }
    })();
    this.#inFlight.add(run);
  }

  async close(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    const last = this.#builder.flush();
    if (last) this.#dispatch(last);
    const all = (async () => {
      while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    })();
    const limit = this.#deps.shutdownTimeoutMs ?? 10_000;
    const timer = new AbortController();
    const finished = await Promise.race([all.then(() => true), this.#sleep(limit, timer.signal).then(() => false)]);
    timer.abort();
    if (!finished) {
      this.#log.warn(`${this.#sink.name}: ${this.#inFlight.size + this.#ready.length} batches not accepted within ${limit} ms of shutdown; left unacked for the next feeder`);
      this.#abort.abort();
      this.#ready.length = 0;
      await all;
    }
    await this.#sink.close();
  }
}
