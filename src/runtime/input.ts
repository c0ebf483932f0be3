/** @module Byte streams for the accounting input: stdin (PowerMTA's pipe) and files, as web ReadableStreams on Bun, Deno and Node. */
import { accessSync, constants, createReadStream, statSync } from "node:fs";
import type { Readable as NodeReadable } from "node:stream";

/**
 * `node:stream`'s Readable, loaded only off Bun: under Bun the inputs are Bun's own streams, and loading
 * `node:stream` costs a compiled `acct-etl` start a few ms of CPU (BENCHMARKS.md, acct-etl start-up).
 */
function nodeReadable(): typeof NodeReadable {
  return (process.getBuiltinModule("node:stream") as typeof import("node:stream")).Readable;
}

/** Standard input as a stream that ends when the writer closes the pipe. */
export function stdinStream(): ReadableStream<Uint8Array> {
  // Bun.stdin.stream() reads the pipe natively; Readable.toWeb works everywhere else (Deno included).
  if ("Bun" in globalThis) return Bun.stdin.stream();
  return nodeReadable().toWeb(process.stdin) as unknown as ReadableStream<Uint8Array>;
}

/** Throws a RangeError `Cannot read --infile "x": …` (a bad flag value) for the first path that is not a readable file. */
export function checkFiles(paths: readonly string[]): void {
  for (const path of paths) {
    try {
      if (!statSync(path).isFile() && !path.startsWith("/dev/")) throw new Error("not a regular file");
      accessSync(path, constants.R_OK);
    } catch (error) {
      throw new RangeError(`Cannot read --infile "${path}": ${(error as Error).message}`, { cause: error });
    }
  }
}

/** A file as a stream, with its size for progress. Throws (ENOENT and the like) before any reading starts. */
export function fileStream(path: string): { stream: ReadableStream<Uint8Array>; size: number } {
  checkFiles([path]);
  const size = statSync(path).size;
  if ("Bun" in globalThis) return { stream: Bun.file(path).stream(), size };
  return { stream: nodeReadable().toWeb(createReadStream(path)) as unknown as ReadableStream<Uint8Array>, size };
}
