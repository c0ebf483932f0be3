/**
 * @module The one place a resolved feeder config becomes a feeder: metrics (and their listener), the sinks
 * built with the queue's lease, the consumer name, then feeding or a dead-letter replay. `mtatrack feeder`
 * and `mtatrack serve` both open it here, so their wiring cannot drift apart; each command keeps its own
 * store, log lines and signal handling.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { FeederConfig } from "../core/feeder-config.ts";
import type { Logger } from "../log.ts";
import { startFeeder } from "../feeder/feeder.ts";
import { FeederMetrics } from "../feeder/metrics.ts";
import { replayDeadLetters, type ReplaySummary } from "../feeder/replay.ts";
import { createSinks } from "../feeder/sinks.ts";
import { listenMetrics } from "../runtime/metrics-listener.ts";
import type { Store } from "../stores/types.ts";
import { listening } from "./_start-helpers.ts";

/** What the feeder runs on besides its config. */
export interface FeederPartDeps {
  store: Store;
  log: Logger;
}

/** An opened feeder: its metrics listen; `feed()` or `replay()` does the work. */
export interface FeederPart {
  /** The metrics listener's URL (no path), or null. */
  readonly metricsUrl: string | null;
  /** Starts taking events from the queue to the sinks until `close()`. */
  feed(): void;
  /** Sends the dead letters again, once; `signal` stops it early. */
  replay(signal: AbortSignal): Promise<ReplaySummary>;
  /** Stops feeding (sending what is gathered, up to `config.shutdownTimeoutMs`), then the metrics listener; not the store (the caller's). */
  close(): Promise<void>;
}

/**
 * Opens the metrics listener (on `config.metricsListen`) and builds the sinks; the consumer is
 * `config.consumer`, else host-pid-random (a restarted feeder is a new consumer).
 * @throws {CLIError} ERUNTIME when the metrics port cannot be bound.
 */
export async function openFeederPart(config: Readonly<FeederConfig>, deps: FeederPartDeps): Promise<FeederPart> {
  const metrics = new FeederMetrics();
  const listener = config.metricsListen ? await listening(`the metrics port ${config.metricsListen.port}`, listenMetrics(() => metrics.render(), config.metricsListen)) : null;
  const run = {
    store: deps.store, sinks: createSinks(config.sinks, { leaseMs: config.leaseMs }), metrics, log: deps.log, leaseMs: config.leaseMs,
    consumer: config.consumer ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`,
  };
  let feeder: ReturnType<typeof startFeeder> | null = null;
  return {
    metricsUrl: listener?.url ?? null,
    feed() {
      feeder ??= startFeeder({ ...run, concurrency: config.concurrency, shutdownTimeoutMs: config.shutdownTimeoutMs });
    },
    replay: (signal) => replayDeadLetters({ ...run, signal }),
    async close() {
      await feeder?.close();
      await listener?.close();
    },
  };
}
