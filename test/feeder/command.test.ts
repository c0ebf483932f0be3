/** `mtatrack feeder` as a user runs it: environment, --replay-dead-letters, SIGTERM. */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { DeadLetter } from "../../src/core/dead-letter.ts";
import { freshStore, makeEvent, until } from "./_fixtures.ts";
import { startIngestServer } from "./_ingest-server.ts";

const main = join(import.meta.dir, "../../src/main.ts");
let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

function feeder(args: string[], env: Record<string, string | undefined>) {
  return Bun.spawn(["bun", main, "feeder", ...args], { env: { ...process.env, MTATRACK_LOG_LEVEL: "warn", ...env }, stdout: "pipe", stderr: "pipe" });
}

describe("mtatrack feeder", () => {
  test("stops with the original's message when SPARKPOST_API_KEY_INGEST is missing", async () => {
    const proc = feeder(["--store", "sqlite::memory:"], { SPARKPOST_API_KEY_INGEST: "" });
    expect(await proc.exited).toBe(1);
    expect(await new Response(proc.stderr).text()).toContain("SPARKPOST_API_KEY_INGEST not set - stopping");
  });

  test("--replay-dead-letters delivers a dead letter to its sink, removes it and exits 0", async () => {
    const { store, url, cleanup } = await freshStore("sqlite");
    const server = await startIngestServer();
    cleanups.push(cleanup, () => server.stop());
    const events = [makeEvent(1), makeEvent(2)];
    const letter: DeadLetter = { v: 1, sink: "sparkpost", kind: "rejected", reason: "HTTP 400", status: 400, at: 0, records: events.map((e) => JSON.stringify(e)) };
    await store.queue({ name: "dead-letters" }).push([JSON.stringify(letter)]);
    const proc = feeder(["--store", url, "--replay-dead-letters"], { SPARKPOST_API_KEY_INGEST: "test-key", SPARKPOST_HOST_INGEST: server.url });
    expect(await proc.exited).toBe(0);
    expect(server.events().map((e) => e.event_id)).toEqual(events.map((e) => e.event_id));
    expect((await store.queue({ name: "dead-letters", group: "replay" }).stats()).depth).toBe(0);
  });

  test("SIGTERM sends the partial batch before exiting 0", async () => {
    const { store, url, cleanup } = await freshStore("sqlite");
    const server = await startIngestServer();
    cleanups.push(cleanup, () => server.stop());
    await store.queue({ name: "events" }).push([JSON.stringify(makeEvent(1))]);
    const proc = feeder(["--store", url, "--batch-age", "1h"], { SPARKPOST_API_KEY_INGEST: "test-key", SPARKPOST_HOST_INGEST: server.url });
    cleanups.push(async () => { proc.kill("SIGKILL"); await proc.exited; });
    await until(async () => (await store.queue({ name: "events", group: "sparkpost" }).stats()).pending === 1, "claimed");
    expect(server.requests).toBe(0);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    expect(server.events()).toHaveLength(1);
  }, 30_000);
});
