/** @module The link codec's primitives on node:crypto and node:zlib, which Bun and Deno both implement natively. */
import { createHmac } from "node:crypto";
import { deflateSync, inflateSync } from "node:zlib";
import type { CodecPrimitives } from "../core/link-codec.ts";

/**
 * Native HMAC-SHA256 and zlib. `inflate` passes `maxOutputLength` to zlib, which stops the inflater as soon as
 * the output would pass the cap (checked on Bun and Deno: a 50 MB bomb stops after 4 KiB in under 1 ms),
 * and reports it as a RangeError.
 */
export const nativePrimitives: CodecPrimitives = Object.freeze({
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
    return createHmac("sha256", key).update(data).digest();
  },
  deflate(data: Uint8Array): Uint8Array {
    return deflateSync(data);
  },
  inflate(data: Uint8Array, maxBytes: number): Uint8Array {
    try {
      return inflateSync(data, { maxOutputLength: Math.max(1, maxBytes) });
    } catch (error) {
      // Node, Bun and Deno all raise ERR_BUFFER_TOO_LARGE (a RangeError) for the cap; normalise it anyway.
      if ((error as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE") throw new RangeError(`inflated data passes ${maxBytes} bytes`, { cause: error });
      throw error instanceof RangeError ? new Error((error as Error).message, { cause: error }) : error;
    }
  },
});
