/** @module Byte streams for the accounting input: stdin (PowerMTA's pipe) and files, as web ReadableStreams on Bun, Deno and Node. */
import { createReadStream, statSync } from "node:fs";
import { Readable } from "node:stream";

/** Standard input as a stream that ends when the writer closes the pipe. */
export function stdinStream(): ReadableStream<Uint8Array> {
  // Bun.stdin.stream() reads the pipe natively; Readable.toWeb works everywhere else (Deno included).
  if ("Bun" in globalThis) return Bun.stdin.stream();
  return Readable.toWeb(process.stdin) as unknown as ReadableStream<Uint8Array>;
}

/** A file as a stream, with its size for progress. Throws (ENOENT and the like) before any reading starts. */
export function fileStream(path: string): { stream: ReadableStream<Uint8Array>; size: number } {
  const size = statSync(path).size;
  if ("Bun" in globalThis) return { stream: Bun.file(path).stream(), size };
  return { stream: Readable.toWeb(createReadStream(path)) as unknown as ReadableStream<Uint8Array>, size };
}
