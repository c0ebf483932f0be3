/** @module Checks a password against `--auth-file` credentials (node:crypto, so it sits with the runtime glue). */
import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Compares in constant time (hashes first, so lengths do not leak either).
 * @param creds user → password, as `parseCredentials()` reads them from the file.
 * @returns true only for a known user with exactly this password.
 * @example checkPassword(new Map([["alice", "s3cret"]]), "alice", "s3cret") // true
 */
export function checkPassword(creds: ReadonlyMap<string, string>, user: string, password: string): boolean {
  const expected = creds.get(user);
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(expected ?? "\0no user"), digest(password)) && expected !== undefined;
}
