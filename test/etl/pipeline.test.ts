/** @module The accounting pipeline in-process, on a real SQLite store in a temp dir. */
import { afterAll, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAcctPipeline } from "../../src/etl/pipeline.ts";
import { createLogger } from "../../src/log.ts";
import { openStore } from "../../src/stores/open-store.ts";
import type { Store } from "../../src/stores/types.ts";

const HEADER = "type,rcpt,header_x-sp-message-id,header_x-sp-subaccount-id\n";
const dir = mkdtempSync(join(tmpdir(), "mtatrack-pipeline-"));
let store: Store;
let n = 0;

beforeEach(async () => {
  await store?.close();
  store = await openStore(`sqlite:${join(dir, `s${++n}.db`)}`);
});
afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A stream the test writes to and never ends unless asked: a pipe PowerMTA keeps open. */
function openPipe() {
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) });
  const enc = new TextEncoder();
  return { stream, write: (s: string) => ctl.enqueue(enc.encode(s)), end: () => ctl.close() };
}

test("consume() lands a row within flushIntervalMs while the input stays open", async () => {
  const etl = createAcctPipeline({ kv: store.kv }, { flushIntervalMs: 50, batchSize: 1000 });
  const pipe = openPipe();
  const done = etl.consume(pipe.stream);
  pipe.write(`${HEADER}d,r,id1,0\n`);
  const deadline = Date.now() + 5000;
  while ((await store.kv.getMany(["msgID_id1"]))[0] === null && Date.now() < deadline) await Bun.sleep(10);
  expect(await store.kv.getMany(["msgID_id1", "acct_headers"])).toEqual([
    '{"header_x-sp-subaccount-id":"0","rcpt":"r"}',
    '{"header_x-sp-message-id":2,"header_x-sp-subaccount-id":3,"rcpt":1,"type":0}',
  ]);
  expect(etl.stats()).toMatchObject({ rows: 2, headers: 1, stored: 1, pending: 0 });
  pipe.end();
  await done;
  await etl.close();
});

test("close() reads for graceMs, stores every complete row and counts a cut-off one as incomplete", async () => {
  const etl = createAcctPipeline({ kv: store.kv }, { flushIntervalMs: 10_000, batchSize: 1000 });
  const pipe = openPipe();
  const done = etl.consume(pipe.stream);
  pipe.write(`${HEADER}d,r,id1,0\nd,r,id2,0\nd,r,id3`);
  setTimeout(() => pipe.write(",0\nd,r,id4,"), 10); // arrives within the grace period
  const summary = await etl.close({ graceMs: 100 });
  await done;
  expect(summary).toMatchObject({ rows: 5, headers: 1, stored: 3, skipped: { incomplete: 1 }, pending: 0, error: null });
  expect(await store.kv.getMany(["msgID_id1", "msgID_id3", "msgID_id4"])).toEqual([
    '{"header_x-sp-subaccount-id":"0","rcpt":"r"}',
    '{"header_x-sp-subaccount-id":"0","rcpt":"r"}',
    null,
  ]);
});

test("close() after the input ended keeps a last row without a line break", async () => {
  const etl = createAcctPipeline({ kv: store.kv });
  await etl.consume(new Blob([`${HEADER}d,r,id1,0`]).stream());
  expect(await etl.close()).toMatchObject({ rows: 2, stored: 1, skipped: {} });
});

test("consume() refuses a second input while the first is read, and close() stops later inputs", async () => {
  const etl = createAcctPipeline({ kv: store.kv });
  const pipe = openPipe();
  const first = etl.consume(pipe.stream);
  expect(() => etl.consume(new Blob(["x"]).stream())).toThrow(TypeError);
  pipe.end();
  await first;
  await etl.close();
  await etl.consume(new Blob([`${HEADER}d,r,id9,0\n`]).stream());
  expect(etl.stats().rows).toBe(0);
});

test("consume() writes acct_headers once for a header PowerMTA repeats unchanged", async () => {
  const headerWrites: number[] = [];
  const kv = store.kv;
  // The real store, with its writes of acct_headers noted (ttl 0 is only used for it).
  const counting = { ...kv, getMany: kv.getMany.bind(kv), setIfAbsent: kv.setIfAbsent.bind(kv),
    setMany: (e: Iterable<readonly [string, string]>, o: { ttlSeconds: number }) => {
      if (o.ttlSeconds === 0) headerWrites.push(1);
      return kv.setMany(e, o);
    } };
  const etl = createAcctPipeline({ kv: counting }, { batchSize: 1 });
  await etl.consume(new Blob([`${HEADER}d,r,id1,0\n${HEADER}d,r,id2,0\n`]).stream());
  const summary = await etl.close();
  expect(summary).toMatchObject({ rows: 4, headers: 2, stored: 2 });
  expect(headerWrites.length).toBe(1);
});

test("the pipeline logs its counters every statsIntervalMs while an input stays open", async () => {
  const lines: string[] = [];
  const log = createLogger({ json: true, stream: { write: (l: string) => lines.push(l) } as unknown as NodeJS.WritableStream });
  const etl = createAcctPipeline({ kv: store.kv, log }, { statsIntervalMs: 30 });
  const pipe = openPipe();
  const done = etl.consume(pipe.stream);
  pipe.write(`${HEADER}d,r,id1,0\n`);
  await Bun.sleep(300);
  pipe.end();
  await done;
  await etl.close();
  expect(lines.some((l) => l.includes("So far: rows 2, headers 1"))).toBe(true);
});
