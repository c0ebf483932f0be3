/** @module Byte streams for the accounting input: stdin (PowerMTA's pipe) and files, as web ReadableStreams on Bun, Deno and Node. */
import { accessSync, constants, createReadStream, statSync } from "node:fs";
import { Readable } from "node:stream";

/** Standard input as a stream that ends when the writer closes the pipe. */
export function stdinStream(): ReadableStream<Uint8Array> {
  // Bun.stdin.stream() reads the pipe natively; Readable.toWeb works everywhere else (Deno included).
  if ("Bun" in globalThis) return Bun.stdin.stream();
  return Readable.toWeb(process.stdin) as unknown as ReadableStream<Uint8Array>;
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
  return { stream: Readable.toWeb(createReadStream(path)) as unknown as ReadableStream<Uint8Array>, size };
}
