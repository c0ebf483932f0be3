/**
 * @module `X-Sp-Message-Id` values as the original makes them (reference §2.5): 20 lowercase hex characters,
 * "0000" + unix seconds as 8 hex digits byte-reversed (little-endian) + 8 random hex digits.
 */

const HEX = /^[0-9a-f]{20}$/;

/**
 * Builds a message id from a time and four random bytes (injected, so core stays deterministic).
 * @example spMessageId(0x6b08d8ec * 1000, new Uint8Array([0x5c, 0xac, 0x6a, 0x04])) // "0000ecd8086b5cac6a04"
 */
export function spMessageId(nowMs: number, random: Uint8Array): string {
  const seconds = Math.floor(nowMs / 1000) >>> 0;
  let out = "0000";
  for (let i = 0; i < 4; i++) out += ((seconds >>> (8 * i)) & 0xff).toString(16).padStart(2, "0");
  for (let i = 0; i < 4; i++) out += (random[i] ?? 0).toString(16).padStart(2, "0");
  return out;
}

/** Is this exactly the original's shape (20 lowercase hex)? Existing ids are reused whatever their shape. */
export function isSpMessageId(value: string): boolean {
  return HEX.test(value);
}
