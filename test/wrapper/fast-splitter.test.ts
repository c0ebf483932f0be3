/**
 * FastSplitter (mailsplit's Splitter with an indexOf line search) against mailsplit's own Splitter: the same
 * objects (node header blocks and MIME fields, body and data bytes) in the same order, and the same errors,
 * on the corpus and on fuzzed MIME-ish bytes, each fed in random chunkings.
 */
import { describe, expect, test } from "bun:test";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import fc from "fast-check";
import { Splitter } from "@zone-eu/mailsplit";
import { createSplitter, fastSplitterApplies, FastSplitter } from "../../src/wrapper/fast-splitter.ts";
import { corpus } from "./corpus.ts";

type Out = { type: string; fields?: unknown[]; bytes: string }[];

async function run(splitter: Splitter, chunks: Buffer[]): Promise<{ out: Out; error: string | null }> {
  const out: Out = [];
  let error: string | null = null;
  try {
    await pipeline(
      Readable.from(chunks),
      splitter,
      new Writable({
        objectMode: true,
        write(chunk: { type: string; value?: Buffer; root?: boolean; contentType?: unknown; charset?: unknown; encoding?: unknown; disposition?: unknown; getHeaders?: () => Buffer }, _enc, cb) {
          if (chunk.type === "node") {
            out.push({ type: "node", fields: [chunk.root, chunk.contentType, chunk.charset, chunk.encoding, chunk.disposition], bytes: chunk.getHeaders!().toString("latin1") });
          } else out.push({ type: chunk.type, bytes: chunk.value!.toString("latin1") });
          cb();
        },
      }),
    );
  } catch (err) {
    error = (err as Error).message;
  }
  return { out, error };
}

/** Cuts `bytes` at the given sizes, cycling through them. */
function chunked(bytes: Buffer, sizes: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const n = Math.max(1, sizes[k % sizes.length]!);
    chunks.push(bytes.subarray(at, at + n));
    at += n;
  }
  return chunks.length ? chunks : [bytes];
}

async function expectSame(bytes: Buffer, sizes: number[]): Promise<void> {
  const opts = { ignoreEmbedded: true };
  const want = await run(new Splitter(opts), chunked(bytes, sizes));
  const got = await run(new FastSplitter(opts), chunked(bytes, sizes));
  expect(got).toEqual(want);
}

describe("FastSplitter", () => {
  test("fastSplitterApplies is true for the installed mailsplit, and createSplitter() then gives a FastSplitter", () => {
    expect(fastSplitterApplies).toBe(true);
    expect(createSplitter({ ignoreEmbedded: true })).toBeInstanceOf(FastSplitter);
    expect(createSplitter({ ignoreEmbedded: true }, { fast: false })).not.toBeInstanceOf(FastSplitter);
  });

  const fixtures = corpus();
  test.each(fixtures)("FastSplitter emits what Splitter emits for $name, whole and in chunks", async ({ bytes }) => {
    for (const sizes of [[bytes.length], [1], [2, 3], [7], [64, 1, 5], [1000], [16 * 1024 + 3]]) await expectSame(bytes, sizes);
  });

  test("FastSplitter emits what Splitter emits for fuzzed MIME-ish bytes in random chunkings", async () => {
    const tokens = [
      "\r\n", "\n", "\r", "\r\n\r\n", "\n\n", "--b", "--b--", "--b\r\n", "--b--\r\n", "--c", " ", "\t", "x", "line of text ",
      "Content-Type: multipart/mixed; boundary=b\r\n", "Content-Type: multipart/alternative; boundary=\"c\"\n",
      "Content-Type: text/html; charset=utf-8\r\n", "Content-Transfer-Encoding: base64\r\n", "Subject: hi\r\n", "X: a\r\n continued\r\n",
      "Content-Type: message/rfc822\r\n", "\u00e9", "=\r\n", ".", "\u0000",
    ];
    const message = fc.array(fc.constantFrom(...tokens), { maxLength: 80 }).map((t) => Buffer.from(t.join(""), "latin1"));
    await fc.assert(
      fc.asyncProperty(message, fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 6 }), async (bytes, sizes) => {
        await expectSame(bytes, sizes);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 2000) },
    );
  });
});
