/** @module Parses the link key ring: `kid:secret` specs into the keys that sign and verify v2 links. */
import type { LinkKey } from "./link-codec.ts";

/** A key id: short, and made of characters that sit in a v2 token unescaped (never `.` or `:`). */
const KID = /^[A-Za-z0-9_-]{1,32}$/;
/** 128 bits: a shorter secret would be weaker than the tag it keys. */
const MIN_SECRET_BYTES = 16;

/**
 * Parses `kid:secret` specs into a key ring; the first key signs, every key verifies.
 * The secret is everything after the first `:`, taken as UTF-8 bytes. Blank specs are skipped.
 * @throws {RangeError} with a reason that names the key id but never the secret.
 * @example parseKeyRing(["k2:0123456789abcdef0123", "k1:fedcba9876543210fedc"])[0].kid // "k2"
 */
export function parseKeyRing(specs: readonly string[]): LinkKey[] {
  const encoder = new TextEncoder();
  const keys: LinkKey[] = [];
  const seen = new Set<string>();
  for (const [index, raw] of specs.entries()) {
    const spec = raw.trim();
    if (spec === "") continue;
    const colon = spec.indexOf(":");
    if (colon < 0) throw new RangeError(`Link key #${index + 1} has no ":": expected kid:secret`);
    const kid = spec.slice(0, colon);
    const secret = encoder.encode(spec.slice(colon + 1));
    if (!KID.test(kid)) throw new RangeError(`Link key #${index + 1}: key id "${kid.slice(0, 40)}" must be 1-32 characters of A-Z a-z 0-9 _ -`);
    if (secret.length < MIN_SECRET_BYTES) throw new RangeError(`Link key "${kid}": secret must be at least ${MIN_SECRET_BYTES} bytes`);
    if (seen.has(kid)) throw new RangeError(`Link key "${kid}" is given twice`);
    seen.add(kid);
    keys.push(Object.freeze({ kid, secret }));
  }
  return keys;
}
