/** The rewriter under Deno gives the same bytes as under Bun, for every corpus message and both engines. */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { rewriteCorpusHashes } from "./_rewrite-corpus.ts";

const root = join(import.meta.dir, "../..");
const deno = Bun.which("deno") ?? join(root, "node_modules/.bin/deno");

test.skipIf(!existsSync(deno))("rewriteMessageBytes() gives byte-identical output under Deno and Bun", async () => {
  const proc = Bun.spawn([deno, "run", "-A", "test/wrapper/_rewrite-corpus.ts"], { cwd: root, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect({ code, err: code === 0 ? "" : err }).toEqual({ code: 0, err: "" });
  const underDeno = JSON.parse(out) as Record<string, string>;
  const underBun = await rewriteCorpusHashes();
  expect(Object.keys(underBun).length).toBeGreaterThanOrEqual(60);
  expect(underDeno).toEqual(underBun);
}, 180_000);
