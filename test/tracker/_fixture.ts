/** @module Test fixture: a real tracker on a loopback port over a real store (SQLite file or a private Redis). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { createCidrSet } from "../../src/core/cidr-set.ts";
import type { HttpServerKind } from "../../src/core/tracker-config.ts";
import type { TrackingEvent } from "../../src/core/event.ts";
import { createLinkCodec, type LinkCodec, type LinkFields } from "../../src/core/link-codec.ts";
import { builtinMachineRanges } from "../../src/core/machine-ranges.ts";
import { nativePrimitives } from "../../src/runtime/codec-primitives.ts";
import { serve, type ServeHandle } from "../../src/runtime/serve.ts";
import { openStore } from "../../src/stores/open-store.ts";
import type { Store } from "../../src/stores/types.ts";
import { openSpool, type Spool } from "../../src/tracker/spool.ts";
import { createTracker, type Tracker, type TrackerDeps } from "../../src/tracker/tracker.ts";

export const keys = [{ kid: "k1", secret: new TextEncoder().encode("test-secret-0123456789abcdef0123") }];

export interface Fixture {
  url: string;
  store: Store;
  tracker: Tracker;
  server: ServeHandle;
  spool: Spool;
  codec: LinkCodec;
  dir: string;
  token(fields: Partial<LinkFields> & Pick<LinkFields, "action">): string;
  /** Every event queued so far that this fixture has not returned yet, parsed. */
  drainEvents(): Promise<TrackingEvent[]>;
  close(): Promise<void>;
}

let counter = 0;

/**
 * `storeUrl`: "sqlite" for a fresh file, or a redis:// URL (a fresh key prefix is used per fixture).
 * `httpServer`: the runtime's (Bun.serve, the handler's promises) or the tracker's own (wire forms, answers
 * through the request's responder). @default "runtime"
 */
export async function startFixture(storeUrl: string, fixtureOpts: Partial<Omit<TrackerDeps, "store" | "codec" | "spool">> & { acceptV1?: boolean; httpServer?: HttpServerKind } = {}): Promise<Fixture> {
  const { httpServer = "runtime", ...opts } = fixtureOpts;
  const dir = mkdtempSync(join(tmpdir(), "mtatrack-tracker-"));
  const store = storeUrl === "sqlite"
    ? await openStore(`sqlite:${join(dir, "store.db")}`)
    : await openStore(storeUrl, { prefix: `t${process.pid}-${++counter}-${Date.now()}:`, redis: { enableAutoPipelining: true } });
  const codec = createLinkCodec({ primitives: nativePrimitives, keys, acceptV1: opts.acceptV1 ?? true });
  const spool = openSpool({ path: join(dir, "tracker.spool"), maxBytes: 64 << 20, fsync: false });
  const tracker = createTracker({ store, codec, spool, machineRanges: builtinMachineRanges, trustedProxies: createCidrSet(["loopback"]), ...opts });
  const server = await serve(tracker.handler, { hostname: "127.0.0.1", port: 0, httpServer, wireHandler: tracker.wireHandler });
  const queue = store.queue({ name: "events", group: "test" });
  return {
    url: server.url,
    store,
    tracker,
    server,
    spool,
    codec,
    dir,
    token: (fields) => codec.encode({ msgId: `msg-${++counter}`, rcpt: "bob@example.com", targetUrl: fields.action === "click" ? "https://example.com/?a=1&b=2" : null, ...fields }),
    async drainEvents() {
      const out: TrackingEvent[] = [];
      for (;;) {
        const batch = await queue.claim("test", { max: 1000, leaseMs: 60_000 });
        if (batch.length === 0) return out;
        out.push(...batch.map((e) => JSON.parse(e.body) as TrackingEvent));
        await queue.ack(batch.map((e) => e.id));
      }
    },
    async close() {
      await server.close({ graceMs: 2000 });
      await tracker.close({ deadlineMs: 2000 });
      spool.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A v1 token exactly as the original makes it: base64url with padding of zlib(JSON). */
export function v1Token(json: string): string {
  const b64 = deflateSync(Buffer.from(json)).toString("base64url");
  return b64 + "=".repeat((4 - (b64.length % 4)) % 4);
}
