/** @module `--replay-dead-letters`: send the dead letters again, to the sink that refused them, after a fix. */
import { parseDeadLetter } from "../core/dead-letter.ts";
import { silentLogger, type Logger } from "../log.ts";
import type { Store } from "../stores/types.ts";
import { retryablePush } from "../stores/uncertain-push.ts";
import { Deliverer } from "./delivery.ts";
import { deadLettersQueue } from "./feeder.ts";
import { FeederMetrics } from "./metrics.ts";
import { prepare } from "./prepare.ts";
import type { Sink } from "./sink.ts";

export interface ReplayDeps {
  store: Store;
  sinks: readonly Sink[];
  consumer: string;
  /** @default 600000 */
  leaseMs?: number;
  now?: () => number;
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  log?: Logger;
  metrics?: FeederMetrics;
  backoff?: { baseMs?: number; maxMs?: number };
  /** Abort to give up (SIGTERM): what is not done stays in the dead letters. */
  signal?: AbortSignal;
}

export interface ReplaySummary {
  /** Dead letters looked at. */
  letters: number;
  /** Events the sink accepted. */
  delivered: number;
  /** Events refused again (or still malformed): written back as new dead letters. */
  deadAgain: number;
  /** Dead letters for sinks not configured in this run, put back untouched. */
  skipped: number;
}

/**
 * Replays the dead letters that exist when it starts (the ones it writes back are left for the next run),
 * each through the same retrying delivery as the feeder. A dead letter is removed once all its events
 * are accepted or dead-lettered again.
 */
export async function replayDeadLetters(deps: ReplayDeps): Promise<ReplaySummary> {
  const log = deps.log ?? silentLogger;
  const metrics = deps.metrics ?? new FeederMetrics();
  const signal = deps.signal ?? new AbortController().signal;
  const queue = deps.store.queue({ name: deadLettersQueue, group: "replay" });
  const summary: ReplaySummary = { letters: 0, delivered: 0, deadAgain: 0, skipped: 0 };
  const deliverers = new Map(
    deps.sinks.map((sink) => [
      sink.name,
      new Deliverer({
        sink, deadLetters: deps.store.queue({ name: deadLettersQueue }), signal, now: deps.now ?? Date.now, random: deps.random ?? Math.random,
        sleep: deps.sleep, log, metrics, backoff: deps.backoff,
      }),
    ]),
  );
  const sinks = new Map(deps.sinks.map((s) => [s.name, s]));
  const { depth } = await queue.stats();
  while (summary.letters < depth && !signal.aborted) {
    const claimed = await queue.claim(deps.consumer, { max: Math.min(16, depth - summary.letters), leaseMs: deps.leaseMs ?? 600_000 });
    if (claimed.length === 0) break;
    for (const c of claimed) {
      summary.letters++;
      const letter = parseDeadLetter(c.body);
      const sink = letter ? sinks.get(letter.sink) : undefined;
      if (!letter || !sink) {
        // Not ours to send: put it back at the end, untouched, so a run with that sink can replay it.
        // Once more after a failure, which after a lost answer first asks whether the letter landed: if the
        // store cannot say, the run fails and the letter stays unacked for the next one.
        const putBack = retryablePush(queue, [c.body]);
        await putBack().catch(() => putBack());
        await queue.ack([c.id]);
        summary.skipped++;
        log.info(`dead letter ${c.id}: ${letter ? `sink "${letter.sink}" is not configured in this run` : "not a dead letter"}; kept`);
        continue;
      }
      const deliverer = deliverers.get(sink.name)!;
      const prepared = await prepare(letter.records.map((body, i) => ({ id: `${c.id}/${i}`, body })), deps.store.kv, sink);
      let complete = true;
      for (const m of prepared.malformed) {
        complete = (await deliverer.deadLetter([m], { kind: "malformed", reason: `malformed queue record: ${m.reason}`, status: null })) && complete;
        summary.deadAgain++;
      }
      // Re-batched within the sink's limits; a dead letter may hold up to a whole batch.
      for (let start = 0; start < prepared.items.length && !signal.aborted; ) {
        let bytes = 0;
        let end = start;
        while (end < prepared.items.length && end - start < sink.limits.maxCount && bytes + prepared.items[end]!.bytes < sink.limits.maxBytes) {
          bytes += prepared.items[end++]!.bytes;
        }
        if (end === start) end++; // a single oversized event: the sink's verdict decides
        const chunk = prepared.items.slice(start, end);
        const before = deliverer.rejectedEvents;
        const done = await deliverer.deliver(chunk);
        if (done.length < chunk.length) complete = false;
        start = end;
        const again = deliverer.rejectedEvents - before;
        summary.deadAgain += again;
        summary.delivered += done.length - again;
      }
      if (complete && !signal.aborted) await queue.ack([c.id]);
      log.info(`dead letter ${c.id} (${letter.records.length} events, ${letter.kind}: ${letter.reason}) replayed to ${sink.name}${complete ? "" : "; incomplete, kept"}`);
    }
  }
  return summary;
}
