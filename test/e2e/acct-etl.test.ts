/**
 * `mtatrack acct-etl` through every way it runs: bun on the source, deno on the source, and the compiled host
 * binary (dist/, from `npm run build:single`; MTATRACK_REQUIRE_BINARY=1 makes a missing binary a failure).
 * A smoke case each: canned CSV on a stdin pipe into SQLite, read back through the store adapter.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../src/stores/open-store.ts";

import { root, runners } from "./_runners.ts";

const dir = mkdtempSync(join(tmpdir(), "mtatrack-e2e-etl-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const INPUT = [
  "type,rcpt,header_x-sp-message-id,header_x-sp-subaccount-id",
  "d,test+00102830@not-orange.fr.bouncy-sink.trymsys.net,0000123456789abcdef0,0",
  'd,"Fred, ""Jr"" <f@x.com>",id-quoted,7',
  "b,bounced@x.com,id-bounce,0",
  "",
].join("\r\n");

describe.each(runners)("acct-etl via $name", ({ name, argv, skip }) => {
  // Skipped only where deno or the built binary is absent; MTATRACK_REQUIRE_BINARY=1 (CI) makes a missing binary fail.
  test.skipIf(skip)("stores the example rows, skips the bounce, stdout stays empty, exit 0", async () => {
    const url = `sqlite:${join(dir, `${name.replace(/\W+/g, "-")}.db`)}`;
    const proc = Bun.spawn([...argv, "acct-etl", "-store", url], {
      cwd: root,
      stdin: new Blob([INPUT]),
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    });
    const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    expect({ code, stdout }).toEqual({ code: 0, stdout: "" });
    expect(stderr).toContain("Summary: rows 4, headers 1, stored 2, skipped 1 (not-delivery 1)");
    const store = await openStore(url);
    try {
      expect(await store.kv.getMany(["msgID_0000123456789abcdef0", "msgID_id-quoted", "msgID_id-bounce"])).toEqual([
        '{"header_x-sp-subaccount-id":"0","rcpt":"test+00102830@not-orange.fr.bouncy-sink.trymsys.net"}',
        '{"header_x-sp-subaccount-id":"7","rcpt":"Fred, \\"Jr\\" \\u003cf@x.com\\u003e"}',
        null,
      ]);
    } finally {
      await store.close();
    }
  }, 60_000);
});
