/**
 * @module A write-once byte spool: chunks stay in memory up to a bound, past it everything moves to a temp
 * file. The rewriter holds the original message in one spool and the rewrite in another, so it can relay
 * either in full and memory stays flat whatever the message size.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, rm, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";

/** Up to this size an in-memory spool is streamed as one chunk (see {@link Spool.stream}). */
const COALESCE_MAX = 256 * 1024;

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
  /** SHA-1 of every byte, kept only once the spool is on disk (see {@link Spool.checker}). */
  #hash: Hash | null = null;
  #digest: string | null = null;

  #checkable: boolean;

  /**
   * @param memoryLimit bytes kept in memory before switching to a file; @param dir where the file goes (default os.tmpdir())
   * @param opts.checkable keep what {@link Spool.checker} needs (a SHA-1 of the bytes, once on disk)
   */
  constructor(memoryLimit: number, dir: string | null = null, opts: { checkable?: boolean } = {}) {
    this.#memoryLimit = memoryLimit;
    this.#dir = dir;
    this.#checkable = opts.checkable ?? false;
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
    if (this.#writeInMemory(buf)) return;
    this.#size += buf.length;
    if (this.#file) {
      this.#hash?.update(buf);
      await this.#file.write(buf);
      return;
    }
    this.#chunks.push(buf);
    this.#tempDir = await mkdtemp(join(this.#dir ?? tmpdir(), "mtatrack-spool-"));
    this.#path = join(this.#tempDir, "message");
    this.#file = await open(this.#path, "w", 0o600);
    this.#hash = this.#checkable ? createHash("sha1") : null;
    const pending = this.#chunks;
    this.#chunks = [];
    for (const c of pending) {
      this.#hash?.update(c);
      await this.#file.write(c);
    }
  }

  /** Keeps `buf` in memory when it fits under the bound, without a promise; false: `write` must spill. */
  #writeInMemory(buf: Buffer): boolean {
    if (this.#file || this.#path || this.#size + buf.length > this.#memoryLimit) return false;
    this.#size += buf.length;
    this.#chunks.push(buf);
    return true;
  }

  /** Finishes writing. */
  async end(): Promise<void> {
    if (this.#hash) this.#digest ??= this.#hash.digest("hex");
    if (this.#file) {
      await this.#file.close();
      this.#file = null;
    }
  }

  /** A Writable that appends to this spool (for `pipeline`); the spool is ended when the stream finishes. */
  writable(): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        if (!this.#closed && this.#writeInMemory(chunk)) cb(); // the common case costs no promise
        else this.write(chunk).then(() => cb(), cb);
      },
      final: (cb) => {
        this.end().then(() => cb(), cb);
      },
    });
  }

  /**
   * A fresh stream of the spooled bytes. A small in-memory spool comes out as one chunk: the rewriter's
   * output is a dozen pieces (header blocks, boundaries, parts), and the relay writes each chunk it gets
   * to the MTA's socket, so one copy here saves a system call per piece.
   */
  stream(): Readable {
    if (this.#closed) throw new Error("Cannot read a closed spool");
    if (this.#path) return createReadStream(this.#path, { highWaterMark: 64 * 1024 });
    const chunks = this.#chunks.length > 1 && this.#size <= COALESCE_MAX ? [Buffer.concat(this.#chunks, this.#size)] : this.#chunks;
    return Readable.from(chunks, { objectMode: false });
  }

  /** All bytes in one buffer. */
  async bytes(): Promise<Buffer> {
    if (!this.#path) return Buffer.concat(this.#chunks, this.#size);
    const parts: Buffer[] = [];
    for await (const c of this.stream()) parts.push(c as Buffer);
    return Buffer.concat(parts, this.#size);
  }

  /**
   * Checks that a sequence of byte pieces is exactly this spool's bytes (call after `end`). In memory the
   * pieces are compared with the spooled bytes directly (memcmp: an exact check, and far cheaper than a
   * hash of both sides); on disk, where the bytes are not at hand, the pieces are hashed and compared with
   * the SHA-1 the spool kept while writing.
   * @example const check = spool.checker(); for (const piece of pieces) check.update(piece); check.matches()
   */
  checker(): { update(piece: Uint8Array): void; matches(): boolean } {
    if (!this.#checkable) throw new Error("This spool was not made checkable");
    if (this.#path) {
      if (this.#digest === null) throw new Error("Cannot check against a spool that is not ended");
      const expected = this.#digest;
      const hash = createHash("sha1");
      return {
        update: (piece) => void hash.update(piece),
        matches: () => hash.digest("hex") === expected,
      };
    }
    const chunks = this.#chunks;
    let index = 0; // chunk being compared
    let offset = 0; // position in it
    let ok = true;
    return {
      update(piece) {
        const buf = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
        let at = 0;
        while (ok && at < buf.length) {
          const chunk = chunks[index];
          if (!chunk) {
            ok = false; // more bytes than the spool holds
            break;
          }
          const n = Math.min(buf.length - at, chunk.length - offset);
          // subarrays, not compare()'s range arguments: Deno 2.9 range-checks those against the wrong buffer
          if (!buf.subarray(at, at + n).equals(chunk.subarray(offset, offset + n))) ok = false;
          at += n;
          offset += n;
          if (offset === chunk.length) {
            index++;
            offset = 0;
          }
        }
      },
      matches() {
        while (index < chunks.length && chunks[index]!.length === 0) index++;
        return ok && index === chunks.length && offset === 0;
      },
    };
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
