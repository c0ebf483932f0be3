/**
 * `mtatrack feeder` through every way it runs: bun on the source, deno on the source, and the compiled host
 * binary (dist/, from `npm run build:single`; MTATRACK_REQUIRE_BINARY=1 makes a missing binary a failure).
 * A smoke case each: queued events in SQLite, enriched from acct-etl's key, to the loopback ingest endpoint
 * (gzip NDJSON, checked as SparkPost checks) and to a file at once; SIGTERM; exit 0; the queue acked.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../src/stores/open-store.ts";
import { makeEvent, until } from "../feeder/_fixtures.ts";
import { startIngestServer } from "../feeder/_ingest-server.ts";

import { root, runners } from "./_runners.ts";

const dir = mkdtempSync(join(tmpdir(), "mtatrack-e2e-feeder-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(runners)("feeder via $name", ({ name, argv, skip }) => {
  // Skipped only where deno or the built binary is absent; MTATRACK_REQUIRE_BINARY=1 (CI) makes a missing binary fail.
  test.skipIf(skip)("delivers queued events to SparkPost and a file, enriched; SIGTERM exits 0 with the queue acked", async () => {
    const slug = name.replace(/\W+/g, "-");
    const url = `sqlite:${join(dir, `${slug}.db`)}`;
    const file = join(dir, `${slug}.ndjson`);
    const events = [makeEvent(1), makeEvent(2, { rcpt: null })];
    const store = await openStore(url);
    const server = await startIngestServer();
    try {
      await store.kv.setMany([[`msgID_${events[0]!.msg_id}`, JSON.stringify({ rcpt: "acct@example.com", "header_x-sp-subaccount-id": "5" })]], { ttlSeconds: 600 });
      await store.queue({ name: "events" }).push(events.map((e) => JSON.stringify(e)));
      const proc = Bun.spawn([...argv, "feeder", "-store", url, "--sink", "sparkpost,file", "--file", file, "--batch-age", "200ms"], {
        cwd: root,
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1", SPARKPOST_API_KEY_INGEST: "test-key", SPARKPOST_HOST_INGEST: `${server.url}/api/v1/` },
      });
      try {
        await until(() => server.events().length === 2 && existsSync(file) && readFileSync(file, "utf8").split("\n").length === 3, "both sinks", 30_000);
      } finally {
        proc.kill("SIGTERM");
      }
      const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
      expect({ code, stderr: stderr.includes("SIGTERM") }).toEqual({ code: 0, stderr: true });
      expect(server.violations).toEqual([]);
      expect(server.events().map((e) => [e.event_id, e.rcpt_to, e.subaccount_id])).toEqual([
        [events[0]!.event_id, "acct@example.com", 5],
        [events[1]!.event_id, "", 0],
      ]);
      expect(readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l).event_id)).toEqual(events.map((e) => e.event_id));
      for (const sink of ["sparkpost", "file"]) expect((await store.queue({ name: "events", group: sink }).stats()).depth).toBe(0);
    } finally {
      await server.stop();
      await store.close();
    }
  }, 60_000);
});
