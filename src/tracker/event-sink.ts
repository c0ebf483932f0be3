/**
 * @module Where the tracker's events go: the store's queue, group-committed across concurrent requests,
 * or the local spool when the store is slow or down; and the replayer that drains the spool, in order,
 * once the store answers again.
 *
 * Group commit: bodies submitted in the same turn of the event loop, or while the pushes in flight are busy,
 * are collected and pushed together (one XADD pipeline / one SQLite transaction), and each submitter is
 * answered when its batch is durable. Under load a push carries every request of a turn; at low load a batch
 * is one event and waits for nothing but the next turn of the event loop.
 *
 * Order: while the spool holds records, new events are appended behind them instead of going to the
 * store, so the queue receives events in the order they were hit, outage or not.
 *
 * A push that timed out may still land later (ioredis replays its offline queue after a reconnect).
 * Its bodies are in the spool by then, so the replayer waits for such pushes to settle and skips the
 * bodies of those that landed: each event reaches the queue once. A push that failed may have landed too,
 * when the store ran it and the connection broke before the answer came (UncertainPushError): before the
 * next replay, the replayer asks the store which of its bodies it has and skips those.
 */
import type { Logger } from "../log.ts";
import type { EventQueue } from "../stores/types.ts";
import type { EventOutcome } from "./metrics.ts";
import type { Spool } from "./spool.ts";
import { settleWithin, sleep, withTimeout } from "../core/timers.ts";
import { UncertainPushError } from "../stores/uncertain-push.ts";

export interface EventSinkOptions {
  queue: EventQueue;
  spool: Spool;
  log: Logger;
  /** A push not durable within this long goes to the spool instead; the response waits no longer. @default 1000 */
  timeoutMs?: number;
  /** Largest batch in one push. @default 1000 */
  maxBatch?: number;
  /** Concurrent pushes in flight; more submissions wait and join the next batch. @default 4 */
  maxInFlight?: number;
  /**
   * Group-commit window: a batch starts at most this often. 0 starts one on every turn of the event loop
   * (up to `maxInFlight` at once), and batches still form from the requests of each turn and from those
   * that arrive while the pushes are in flight. A window only adds waiting: at 1 ms the tracker answered
   * 26-28% fewer requests a second under wrk, with both stores, and spent more CPU per request on its
   * timers (BENCHMARKS.md, tracker, session 6). @default 0
   */
  groupWindowMs?: number;
  /** How often the replayer looks at the spool and probes the store. @default 500 */
  replayIntervalMs?: number;
  /** A replay push gets this long; longer counts as a failure. @default 30000 */
  replayTimeoutMs?: number;
  /** After this long, a push that never settled no longer holds up the replayer (its events may then arrive twice). @default 60000 */
  settleGiveUpMs?: number;
  /** Probes a store when the spool is empty but the store was marked down. */
  ping: () => Promise<void>;
  onOutcome?: (outcome: EventOutcome, n: number) => void;
  now?: () => number;
}

/** Told once a submitted body is durable somewhere (or, with the spool full, dropped and logged). */
export interface EventWaiter {
  settled(outcome: EventOutcome): void;
}

export interface EventSink {
  /** Resolves once the body is durable somewhere (or, with the spool full, dropped and logged). Never rejects. */
  submit(body: string): Promise<EventOutcome>;
  /**
   * The same, told to `waiter` instead of a promise: the tracker's hot path, where a promise and its reaction
   * per hit are measurable. The waiter is called from the sink's own turn, possibly before this returns.
   */
  submitThen(body: string, waiter: EventWaiter): void;
  /** True while events bypass the store: it failed recently, or the spool is still draining. */
  readonly degraded: boolean;
  /** Marks the store as failing (e.g. a KV call timed out), so the next events go straight to the spool. */
  reportStoreFailure(error: unknown): void;
  /** Tries to empty the spool into the store, until it is empty, the store refuses, or `deadlineMs` passes. */
  drain(deadlineMs: number): Promise<void>;
  /** Stops the replayer after waiting for submissions in progress; does not close the spool. */
  close(): Promise<void>;
}

/**
 * Bodies submitted together and answered together: their waiters told in one loop, and at most one promise
 * per group (for `submit`). Only the newest waiting group takes new bodies, up to `maxBatch`; a group is one
 * push (or one spool append).
 */
class Group {
  readonly bodies: string[] = [];
  readonly waiters: EventWaiter[] = [];
  #done: Promise<EventOutcome> | null = null;
  constructor(private readonly log: Logger) {}
  /** A promise of the group's outcome, made on first use. */
  get done(): Promise<EventOutcome> {
    return (this.#done ??= new Promise((resolve) => {
      this.waiters.push({ settled: resolve });
    }));
  }
  resolve(outcome: EventOutcome): void {
    for (const waiter of this.waiters) {
      try {
        waiter.settled(outcome);
      } catch (err) {
        // A waiter answers its own failures; one that throws must not keep the others from theirs.
        this.log.error(`Unexpected error after an event was ${outcome}: ${(err as Error)?.stack ?? err}`);
      }
    }
  }
}

/** Creates the sink and starts its replayer (a timer that is unref'd, so it never holds the process). */
export function createEventSink(opts: EventSinkOptions): EventSink {
  const { queue, spool, log, ping, timeoutMs = 1000, maxBatch = 1000, maxInFlight = 4, groupWindowMs = 0, replayIntervalMs = 500,
    replayTimeoutMs = 30_000, settleGiveUpMs = 60_000, onOutcome = () => {}, now = Date.now } = opts;

  /** Groups waiting for a push, oldest first. */
  let waiting: Group[] = [];
  let scheduled = false;
  let inFlight = 0;
  let storeDown = false;
  let closed = false;
  let replaying: Promise<void> | null = null;
  let lastFullLog = 0;
  /** Pushes that timed out and have not settled yet, with their bodies and start time. */
  const unsettled = new Set<{ bodies: readonly string[]; since: number }>();
  /** Failed pushes that may have landed: how to ask the store which of their bodies it has (UncertainPushError). */
  const uncertain = new Set<{ landedBodies: () => Promise<readonly string[]> }>();
  /** Bodies of timed-out or failed pushes that landed after all: already in the queue, not to be replayed. */
  const landedLate = new Set<string>();
  const active = new Set<Promise<unknown>>();

  const degraded = () => storeDown || spool.stats().records > 0;

  /** After close: the body goes to the spool at once, on its own. */
  function spoolAlone(body: string, waiter: EventWaiter): void {
    const alone = new Group(log);
    alone.bodies.push(body);
    alone.waiters.push(waiter);
    toSpool(alone);
  }

  /** The group `body` joins: the newest waiting one with room, or a new one. */
  function join(body: string): Group {
    let group = waiting[waiting.length - 1];
    if (!group || group.bodies.length >= maxBatch) waiting.push((group = new Group(log)));
    group.bodies.push(body);
    schedule();
    return group;
  }

  function toSpool(group: Group): void {
    const bodies = group.bodies;
    let taken = 0;
    try {
      taken = spool.append(bodies);
    } catch (err) {
      log.error(`Cannot write ${bodies.length} event(s) to the spool: ${(err as Error).message}`);
    }
    if (taken === bodies.length) {
      onOutcome("spooled", taken);
      group.resolve("spooled");
      return;
    }
    onOutcome("dropped", bodies.length);
    const at = now();
    // One line per second at most: a full spool under load would otherwise flood the log.
    if (at - lastFullLog >= 1000) {
      lastFullLog = at;
      const { records, bytes } = spool.stats();
      log.error(`Spool full (${records} events, ${bytes} bytes unreplayed, store down): dropping events; raise --spool-max or bring the store back`);
    }
    group.resolve("dropped");
  }

  let lastFlush = -Infinity;
  function schedule(): void {
    if (scheduled || waiting.length === 0) return;
    scheduled = true;
    // setImmediate runs after the I/O callbacks of this loop turn: every request parsed in this turn
    // has submitted by then, so they share one batch. Only when the last batch started less than the
    // window ago does the next one wait for the rest of it.
    const wait = lastFlush + groupWindowMs - performance.now();
    if (wait > 0) setTimeout(flush, wait);
    else setImmediate(flush);
  }

  function flush(): void {
    scheduled = false;
    lastFlush = performance.now();
    while (waiting.length > 0 && inFlight < maxInFlight) {
      const batch = waiting.shift()!;
      if (degraded()) {
        toSpool(batch);
        continue;
      }
      inFlight++;
      const task = pushBatch(batch).finally(() => {
        inFlight--;
        active.delete(task);
        schedule();
      });
      active.add(task);
    }
  }

  /**
   * Pushes with a deadline. On a timeout the push is left running and remembered: if it lands later its
   * bodies go into `landedLate`, which the replayer skips.
   */
  async function timedPush(bodies: readonly string[], ms: number): Promise<"ok" | Error> {
    const attempt = queue.push(bodies);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      attempt.then(() => "ok" as const, (err: unknown) => (err instanceof Error ? err : new Error(String(err)))),
      new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), ms);
      }),
    ]);
    clearTimeout(timer);
    if (outcome !== "timeout") {
      noteUncertain(outcome);
      return outcome;
    }
    const entry = { bodies, since: now() };
    unsettled.add(entry);
    attempt
      .then(
        () => {
          for (const b of bodies) landedLate.add(b);
          log.info(`A push of ${bodies.length} event(s) that timed out reached the store late; the spool will skip them`);
        },
        noteUncertain,
      )
      .finally(() => unsettled.delete(entry));
    return new Error(`no answer within ${ms} ms`);
  }

  function noteUncertain(err: unknown): void {
    if (err instanceof UncertainPushError) uncertain.add({ landedBodies: err.landedBodies });
  }

  /** Asks the store about failed pushes that may have landed; false while it cannot answer. */
  async function resolveUncertain(): Promise<boolean> {
    for (const entry of uncertain) {
      let landed: readonly string[];
      try {
        landed = await withTimeout(entry.landedBodies(), replayTimeoutMs);
      } catch {
        return false;
      }
      for (const b of landed) landedLate.add(b);
      if (landed.length > 0) log.info(`A push of ${landed.length} event(s) whose answer was lost had reached the store; the spool will skip them`);
      uncertain.delete(entry);
    }
    return true;
  }

  async function pushBatch(batch: Group): Promise<void> {
    const outcome = await timedPush(batch.bodies, timeoutMs);
    if (outcome === "ok") {
      onOutcome("queued", batch.bodies.length);
      batch.resolve("queued");
      return;
    }
    markDown(outcome);
    toSpool(batch);
  }

  function markDown(err: unknown): void {
    if (!storeDown) log.warn(`Store failed, spooling events locally until it is back: ${(err as Error)?.message ?? err}`);
    storeDown = true;
  }

  /** One replay step: returns true when there may be more to do right away. */
  async function replayOnce(): Promise<boolean> {
    if (unsettled.size > 0) {
      const oldest = Math.min(...[...unsettled].map((u) => u.since));
      if (now() - oldest < settleGiveUpMs) return false;
      log.warn(`${unsettled.size} timed-out push(es) never settled in ${settleGiveUpMs} ms; replaying anyway: their events may reach the queue twice (same event_id)`);
      unsettled.clear();
    }
    // Before any replay, and before landedLate may be cleared below: which failed pushes landed after all.
    if (uncertain.size > 0 && !(await resolveUncertain())) {
      if (!storeDown) log.warn("Store failed again while checking which failed pushes had landed; retrying");
      storeDown = true;
      return false;
    }
    const { records } = spool.stats();
    if (records === 0) {
      landedLate.clear();
      if (!storeDown) return false;
      try {
        await withTimeout(ping(), replayTimeoutMs);
        storeDown = false;
        log.info("Store is back");
      } catch {
        /* still down */
      }
      return false;
    }
    const batch = spool.peek(maxBatch);
    // Skipped bodies leave `landedLate` only with the commit: a failed push must not forget them.
    const bodies = landedLate.size === 0 ? batch.bodies : batch.bodies.filter((b) => !landedLate.has(b));
    const outcome = bodies.length > 0 ? await timedPush(bodies, replayTimeoutMs) : "ok";
    if (outcome !== "ok") {
      if (!storeDown) log.warn(`Spool replay failed, retrying: ${outcome.message}`);
      storeDown = true;
      return false;
    }
    spool.commit(batch.end);
    if (bodies.length !== batch.bodies.length) for (const b of batch.bodies) landedLate.delete(b);
    onOutcome("replayed", bodies.length);
    if (storeDown) log.info("Store is back; replaying the spool");
    storeDown = false;
    const left = spool.stats().records;
    if (left === 0) log.info("Spool replayed; events go to the store again");
    return left > 0;
  }

  function runReplay(): Promise<void> {
    replaying ??= (async () => {
      try {
        while (!closed && (await replayOnce()));
      } catch (err) {
        log.error(`Spool replay stopped: ${(err as Error).message}`);
      } finally {
        replaying = null;
      }
    })();
    return replaying;
  }

  if (spool.recoveredFromCrash) {
    log.warn(`The spool holds ${spool.stats().records} event(s) from an earlier run; replaying them. If that run died while replaying, its last batch may reach the queue twice (same event_id)`);
  }
  const timer = setInterval(() => {
    if (degraded()) void runReplay();
  }, replayIntervalMs);
  (timer as { unref?: () => void }).unref?.();

  return {
    get degraded() {
      return degraded();
    },
    submit(body) {
      if (closed) return new Promise((resolve) => spoolAlone(body, { settled: resolve }));
      return join(body).done;
    },
    submitThen(body, waiter) {
      if (closed) spoolAlone(body, waiter);
      else join(body).waiters.push(waiter);
    },
    reportStoreFailure(error) {
      markDown(error);
    },
    async drain(deadlineMs) {
      const deadline = now() + deadlineMs;
      await waitFor(() => waiting.length === 0 && inFlight === 0, deadline, now);
      while (spool.stats().records > 0 && now() < deadline) {
        if (unsettled.size > 0) {
          await waitFor(() => unsettled.size === 0, deadline, now);
          if (unsettled.size > 0) break;
        }
        const before = spool.stats().records;
        // A replay push can take up to replayTimeoutMs; the caller's deadline wins.
        await settleWithin(runReplay(), Math.max(0, deadline - now()));
        // The store refused the replay: it is down, and waiting out the deadline would only delay a
        // shutdown. The records stay in the spool for the next start.
        if (spool.stats().records >= before && storeDown) break;
        if (spool.stats().records >= before) await sleep(Math.min(200, Math.max(0, deadline - now())));
      }
    },
    async close() {
      await waitFor(() => waiting.length === 0 && inFlight === 0, now() + timeoutMs + 100, now);
      closed = true;
      clearInterval(timer);
      await settleWithin(Promise.allSettled([...active]), timeoutMs + 100);
      // A replay still running is left to finish or fail on its own: its records stay in the spool
      // until committed, so the next start pushes them (the crash window of spool.ts).
      if (replaying) await settleWithin(replaying, timeoutMs);
    },
  };
}

async function waitFor(done: () => boolean, deadline: number, now: () => number): Promise<void> {
  while (!done() && now() < deadline) await sleep(5);
}
