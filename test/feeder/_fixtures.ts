/** @module Events and stores for the feeder tests. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TrackingEvent } from "../../src/core/event.ts";
import { openStore } from "../../src/stores/open-store.ts";
import type { Store } from "../../src/stores/types.ts";

/**
 * A click whose SparkPost line is exactly `lineBytes` long (padding the user agent). The original's test
 * needed lines of at least 437 bytes for 12,000 of them to make two 5 MiB batches (its §5.2 example line is
 * 423 bytes with geo_ip; real user agents are longer): the tests use 500.
 */
export function makeEvent(i: number, opts: { lineBytes?: number; msgId?: string; rcpt?: string | null } = {}): TrackingEvent {
  const base: TrackingEvent = {
    event_id: String(1_000_000_000_000 + i), type: i % 3 === 0 ? "open" : "click", ts: 1_700_000_000_000 + i,
    msg_id: opts.msgId ?? `0000${(i % 100_000).toString(16).padStart(16, "0")}`, rcpt: opts.rcpt === undefined ? `user${i}@example.com` : opts.rcpt,
    target_link_url: i % 3 === 0 ? null : `https://example.com/p/${i}`, link_name: null, ip: "12.34.56.78",
    user_agent: "Mozilla/5.0", machine: false, machine_reason: null, first: false,
  };
  if (opts.lineBytes) {
    // Lines differ in length by the counter's digits; pad to the exact size.
    const probe = JSON.stringify({ msys: { track_event: { type: base.type, delv_method: "esmtp", event_id: base.event_id, ip_address: base.ip, message_id: base.msg_id,
      rcpt_to: base.rcpt ?? "", timestamp: "1700000000", target_link_url: base.target_link_url ?? "", user_agent: base.user_agent, subaccount_id: 0 } } });
    base.user_agent += "x".repeat(Math.max(0, opts.lineBytes - 1 - probe.length));
  }
  return base;
}

/** A fresh store per test: a SQLite file in a temp dir, or a Redis prefix on the shared test server. */
export async function freshStore(kind: "sqlite" | "redis", redisUrl?: string): Promise<{ store: Store; url: string; cleanup: () => Promise<void> }> {
  if (kind === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "mtatrack-feeder-"));
    const url = `sqlite:${join(dir, "store.db")}`;
    const store = await openStore(url);
    return { store, url, cleanup: async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); } };
  }
  const prefix = `t${Math.random().toString(36).slice(2, 8)}:`;
  const url = `${redisUrl}/0?prefix=${prefix}`;
  const store = await openStore(url);
  return { store, url, cleanup: async () => { await store.close(); } };
}

/** Waits until `check()` is true, polling; throws with `what` after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}
