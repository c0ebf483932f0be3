/**
 * @module A write-once byte spool: chunks stay in memory up to a bound, past it everything moves to a temp
 * file. The rewriter holds the original message in one spool and the rewrite in another, so it can relay
 * either in full and memory stays flat whatever the message size.
 */
import { createReadStream } from "node:fs";
import { mkdtemp, open, rm, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";

/** A spool; `write` then `end`, then read any number of times, then `close`. */
export class Spool {
  #memoryLimit: number;
  #dir: string | null;
  #chunks: Buffer[] = [];
  #size = 0;
  #file: FileHandle | null = null;
  #path: string | null = null;
  #tempDir: string | null = null;
  #closed = false;

  /** @param memoryLimit bytes kept in memory before switching to a file; @param dir where the file goes (default os.tmpdir()) */
  constructor(memoryLimit: number, dir: string | null = null) {
    this.#memoryLimit = memoryLimit;
    this.#dir = dir;
  }

  /** Bytes written so far. */
  get size(): number {
    return this.#size;
  }

  /** True once the spool spilled to a file. */
  get onDisk(): boolean {
    return this.#path !== null;
  }

  /** Appends bytes. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.#closed) throw new Error("Cannot write to a closed spool");
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#size += buf.length;
    if (this.#file) {
      await this.#file.write(buf);
      return;
    }
    this.#chunks.push(buf);
    if (this.#size > this.#memoryLimit) {
      this.#tempDir = await mkdtemp(join(this.#dir ?? tmpdir(), "mtatrack-spool-"));
      this.#path = join(this.#tempDir, "message");
      this.#file = await open(this.#path, "w", 0o600);
      const pending = this.#chunks;
      this.#chunks = [];
      for (const c of pending) await this.#file.write(c);
    }
  }

  /** Finishes writing. */
  async end(): Promise<void> {
    if (this.#file) {
      await this.#file.close();
      this.#file = null;
    }
  }

  /** A Writable that appends to this spool (for `pipeline`); the spool is ended when the stream finishes. */
  writable(): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.write(chunk).then(() => cb(), cb);
      },
      final: (cb) => {
        this.end().then(() => cb(), cb);
      },
    });
  }

  /** A fresh stream of the spooled bytes. */
  stream(): Readable {
    if (this.#closed) throw new Error("Cannot read a closed spool");
    if (this.#path) return createReadStream(this.#path, { highWaterMark: 64 * 1024 });
    return Readable.from(this.#chunks, { objectMode: false });
  }

  /** All bytes in one buffer. */
  async bytes(): Promise<Buffer> {
    if (!this.#path) return Buffer.concat(this.#chunks, this.#size);
    const parts: Buffer[] = [];
    for await (const c of this.stream()) parts.push(c as Buffer);
    return Buffer.concat(parts, this.#size);
  }

  /** Drops the bytes and deletes the temp file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#chunks = [];
    if (this.#file) await this.#file.close().catch(() => {});
    this.#file = null;
    if (this.#tempDir) await rm(this.#tempDir, { recursive: true, force: true });
  }
}
