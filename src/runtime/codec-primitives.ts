/** @module The link codec's primitives on node:crypto and node:zlib, which Bun and Deno both implement natively. */
import { createHmac } from "node:crypto";
import zlib, { deflateSync, inflateSync } from "node:zlib";
import type { CodecPrimitives, DeflateOptions } from "../core/link-codec.ts";
import { dictionaryIdOf } from "../core/link-dictionary.ts";

/** node:zlib's options for a {@link DeflateOptions}. */
const zlibOptions = (opts: DeflateOptions = {}) => ({
  ...(opts.dictionary ? { dictionary: opts.dictionary } : {}),
  ...(opts.fixedCodes ? { strategy: zlib.constants.Z_FIXED } : {}),
});

let dictionaryDeflate: boolean | undefined;
/** Whether this runtime's deflateSync writes a preset dictionary into the stream: Deno's does not. */
function deflateWritesDictionaries(): boolean {
  dictionaryDeflate ??= dictionaryIdOf(deflateSync(Uint8Array.of(1, 2, 3), { dictionary: Uint8Array.of(1, 2, 3) })) !== null;
  return dictionaryDeflate;
}

/**
 * Native HMAC-SHA256 and zlib on the stock node:zlib calls (the path under Deno and Node). `inflate` passes
 * `maxOutputLength` to zlib, which stops the inflater as soon as the output would pass the cap (checked on
 * Bun and Deno: a 50 MB bomb stops after 4 KiB in under 1 ms), and reports it as a RangeError.
 * Deno's deflate ignores `dictionary` (its inflate honours the one a stream asks for): there, a deflate asked
 * for a dictionary writes a plain stream instead, which every decoder reads (a v2-plain payload).
 */
export const stockPrimitives: CodecPrimitives = Object.freeze({
  hmacSha256(key: Uint8Array, data: Uint8Array | string): Uint8Array {
    return createHmac("sha256", key).update(data).digest();
  },
  deflate(data: Uint8Array, opts?: DeflateOptions): Uint8Array {
    // Without the dictionary, fixed codes would only make the stream longer.
    if (opts?.dictionary && !deflateWritesDictionaries()) return deflateSync(data);
    return deflateSync(data, zlibOptions(opts));
  },
  inflate(data: Uint8Array, maxBytes: number, dictionary?: Uint8Array): Uint8Array {
    try {
      return inflateSync(data, { maxOutputLength: Math.max(1, maxBytes), ...(dictionary ? { dictionary } : {}) });
    } catch (error) {
      // Node, Bun and Deno all raise ERR_BUFFER_TOO_LARGE (a RangeError) for the cap; normalise it anyway.
      if ((error as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE") throw new RangeError(`inflated data passes ${maxBytes} bytes`, { cause: error });
      throw error instanceof RangeError ? new Error((error as Error).message, { cause: error }) : error;
    }
  },
});

/** The part of node:zlib's native handle (`stream._handle`) that `zlibBufferSync` itself drives. */
interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  reset(): void;
  onerror: (message: string, errno: number) => void;
}

/**
 * One zlib stream kept for the process and reset after each call. `inflateSync`/`deflateSync` build a whole
 * Transform stream, a 16 KB output buffer and a fresh zlib state per call (256 KB for deflate), which for a
 * 150-byte token is most of the cost (BENCHMARKS.md, "Link codec"). This drives the stream's native handle
 * exactly as node:zlib's own `processChunkSync` does, one `writeSync(Z_FINISH)` into a buffer we own.
 * Returns null when the handle is not there in that shape, so the caller keeps the stock path.
 */
function reusedStream(make: () => unknown): { run(input: Uint8Array, out: Uint8Array, outLen: number): number } | null {
  const stream = make() as { _handle?: ZlibHandle; _writeState?: Uint32Array };
  const handle = stream._handle;
  const state = stream._writeState;
  if (!handle || typeof handle.writeSync !== "function" || typeof handle.reset !== "function" || !(state instanceof Uint32Array) || state.length < 2) return null;
  let failure: string | null = null;
  // Replaces node:zlib's handler, which would destroy the stream: errors arrive here during writeSync.
  handle.onerror = (message) => { failure = message; };
  return {
    /** Returns the bytes written to `out`, at most `outLen`; throws Error(zlib's message) for a bad stream. */
    run(input, out, outLen) {
      failure = null;
      // A sentinel no real call leaves behind: on error Bun does not update the state, and a stale count from
      // the previous call must never pass for this one's.
      state[0] = 0xffffffff;
      try {
        handle.writeSync(zlib.constants.Z_FINISH, input, 0, input.length, out, 0, outLen);
      } finally {
        // inflateReset/deflateReset keep the allocated state, so the next call starts clean and cheap.
        handle.reset();
      }
      if (failure !== null) throw new Error(failure);
      const availOut = state[0]!;
      if (availOut > outLen) throw new Error("zlib did not report its output");
      return outLen - availOut;
    },
  };
}

/** Largest cap the reused inflater serves; a bigger one (none in mtatrack) takes the stock path. */
const REUSED_INFLATE_MAX = 64 * 1024;
/** Largest input the reused deflater serves; its output buffer is zlib's deflateBound for it. */
const REUSED_DEFLATE_MAX = 16 * 1024;

type ReusedStream = NonNullable<ReturnType<typeof reusedStream>>;

/**
 * Reused streams by dictionary and code choice, made on first use (null when the handle is not there). The
 * codec uses one dictionary, so there are a handful at most; past a few dictionaries (a caller making a new
 * array per call) the caller takes the stock path instead of growing this.
 */
function streamCache(make: (dictionary: Uint8Array | undefined, fixedCodes: boolean) => unknown) {
  const streams = new Map<Uint8Array | undefined, Map<boolean, ReusedStream | null>>();
  return (dictionary: Uint8Array | undefined, fixedCodes = false): ReusedStream | null => {
    let byCodes = streams.get(dictionary);
    if (!byCodes) {
      if (streams.size >= 8) return null;
      byCodes = new Map();
      streams.set(dictionary, byCodes);
    }
    let stream = byCodes.get(fixedCodes);
    if (stream === undefined) {
      stream = reusedStream(() => make(dictionary, fixedCodes));
      byCodes.set(fixedCodes, stream);
    }
    return stream;
  };
}

/**
 * Bun: the reused zlib streams above and HMAC on `Bun.CryptoHasher`, whose keyed state is built once per key
 * and copied per call (0.35 µs against 0.67 µs for createHmac). Same zlib library as node:zlib, so deflate is
 * byte-identical (test/core/codec-primitives.test.ts compares both ways on random payloads). A stream with a
 * dictionary is given it again after every reset (inflateReset/deflateReset forget it; Bun's handle, like
 * Node's, sets it again), which the self-test checks.
 */
function bunPrimitives(): CodecPrimitives | null {
  const inflaters = streamCache((dictionary) => new zlib.Inflate(zlibOptions({ dictionary })));
  const deflaters = streamCache((dictionary, fixedCodes) => new zlib.Deflate(zlibOptions({ dictionary, fixedCodes })));
  if (!inflaters(undefined) || !deflaters(undefined)) return null;
  let inflateOut = new Uint8Array(8192 + 1);
  // zlib's deflateBound (stored blocks, the worst case) plus header and Adler-32, for the largest input served.
  const deflateOut = new Uint8Array(REUSED_DEFLATE_MAX + (REUSED_DEFLATE_MAX >> 12) + (REUSED_DEFLATE_MAX >> 14) + 64);
  // Bun refuses a digest target under 64 bytes (the largest digest it makes), even for SHA-256.
  const digestScratch = new Uint8Array(64);
  // Keyed by the secret's Uint8Array; the bytes are kept and compared so a secret changed in place is not
  // served a stale state.
  const hashers = new WeakMap<Uint8Array, { bytes: Uint8Array; hasher: Bun.CryptoHasher }>();

  const primitives: CodecPrimitives = {
    hmacSha256(key, data) {
      let entry = hashers.get(key);
      if (!entry || !sameBytes(entry.bytes, key)) {
        entry = { bytes: key.slice(), hasher: new Bun.CryptoHasher("sha256", key) };
        hashers.set(key, entry);
      }
      // Into a scratch array, then copied out: digest() returns a Buffer, and taking a view of one (the
      // codec's next step) makes the engine build its ArrayBuffer, 6-7% of the tracker's in-process profile.
      entry.hasher.copy().update(data).digest(digestScratch);
      return digestScratch.slice(0, 32);
    },
    deflate(data, opts) {
      const deflater = data.length > REUSED_DEFLATE_MAX ? null : deflaters(opts?.dictionary, opts?.fixedCodes);
      if (!deflater) return stockPrimitives.deflate(data, opts);
      const n = deflater.run(data, deflateOut, deflateOut.length);
      return deflateOut.slice(0, n);
    },
    inflate(data, maxBytes, dictionary) {
      const cap = Math.max(1, maxBytes);
      const inflater = cap > REUSED_INFLATE_MAX ? null : inflaters(dictionary);
      if (!inflater) return stockPrimitives.inflate(data, maxBytes, dictionary);
      if (inflateOut.length < cap + 1) inflateOut = new Uint8Array(cap + 1);
      // The output room is the cap plus one byte: zlib never writes past it, so no token can make this inflate
      // more than cap + 1 bytes, and a full buffer means the data passes the cap (a bomb stops right there).
      const n = inflater.run(data, inflateOut, cap + 1);
      if (n > cap) throw new RangeError(`inflated data passes ${maxBytes} bytes`);
      return inflateOut.slice(0, n);
    },
  };
  return selfTestPassed(primitives) ? Object.freeze(primitives) : null;
}

/** A known round trip, a broken stream and the cap, so a runtime whose handle behaves otherwise keeps the stock path. */
function selfTestPassed(p: CodecPrimitives): boolean {
  try {
    const data = new TextEncoder().encode('{"a":"c","m":"self-test","u":"https://example.com/self-test"}');
    const zipped = p.deflate(data);
    if (!sameBytes(zipped, stockPrimitives.deflate(data)) || !sameBytes(p.inflate(zipped, data.length), data)) return false;
    if (!throwsLike(() => p.inflate(zipped, data.length - 1), true)) return false;
    const corrupt = zipped.slice();
    corrupt[corrupt.length - 1]! ^= 1;
    if (!throwsLike(() => p.inflate(corrupt, 8192), false) || !throwsLike(() => p.inflate(zipped.subarray(0, zipped.length - 5), 8192), false)) return false;
    // With a dictionary, twice each way: the second call runs on a reset stream, which must have it again.
    const dictionary = new TextEncoder().encode('{"a":"c","m":"self-test","u":"https://example.com/');
    for (let i = 0; i < 2; i++) {
      const dictZipped = p.deflate(data, { dictionary, fixedCodes: true });
      if (!sameBytes(dictZipped, stockPrimitives.deflate(data, { dictionary, fixedCodes: true })) || !sameBytes(p.inflate(dictZipped, 8192, dictionary), data)) return false;
      if (!throwsLike(() => p.inflate(dictZipped, 8192), false)) return false;
    }
    const key = new TextEncoder().encode("self-test-key");
    return sameBytes(p.hmacSha256(key, data), stockPrimitives.hmacSha256(key, data)) && sameBytes(p.inflate(zipped, 8192), data);
  } catch {
    return false;
  }
}

function throwsLike(fn: () => unknown, range: boolean): boolean {
  try {
    fn();
    return false;
  } catch (error) {
    return error instanceof Error && error instanceof RangeError === range;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The primitives the commands use: {@link bunPrimitives} under Bun, {@link stockPrimitives} elsewhere. Deno
 * keeps the stock path: its zlib handle is a separate implementation (it inflated a preset-dictionary stream
 * that Bun and Node refuse), and the reuse has been checked only on Bun.
 */
export const nativePrimitives: CodecPrimitives = ("Bun" in globalThis ? bunPrimitives() : null) ?? stockPrimitives;
