import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { adler32, dictionaryIdOf, V2_DICTIONARIES, V2_DICTIONARY, V2_DICTIONARY_ID } from "../../src/core/link-dictionary.ts";

describe("v2's preset dictionary", () => {
  // Links already in inboxes name the dictionary by its Adler-32: its bytes must never change. If this
  // fails, the edit broke every compact v2 link sent so far; add a second dictionary instead (see the module).
  test("its bytes are pinned (978 bytes, DICTID 93ac5d35, as docs/links.md says)", () => {
    expect(V2_DICTIONARY.length).toBe(978);
    expect(createHash("sha256").update(V2_DICTIONARY).digest("hex")).toBe("123b7216b560a693f074d66ea874bf80ba8d5d6271dbacccd6344f260bf1793e");
    expect(V2_DICTIONARY_ID).toBe(0x93ac5d35);
    expect(V2_DICTIONARIES.get(0x93ac5d35)).toBe(V2_DICTIONARY);
  });

  test("it is printable ASCII, so its text in docs/links.md is the bytes", () => {
    expect([...V2_DICTIONARY].every((b) => b >= 0x20 && b < 0x7f)).toBe(true);
  });

  test("adler32() matches zlib's (RFC 1950 §8.2) on known and long input", () => {
    expect(adler32(new TextEncoder().encode("Wikipedia"))).toBe(0x11e60398);
    expect(adler32(new Uint8Array(0))).toBe(1);
    // Long enough for the sums to wrap many times; zlib writes the same value as a stream's DICTID.
    const long = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7919) & 255);
    expect(dictionaryIdOf(deflateSync(Uint8Array.of(1), { dictionary: long }))).toBe(adler32(long));
  });

  test("dictionaryIdOf() reads the DICTID of a stream that asks for one, and null otherwise", () => {
    expect(dictionaryIdOf(deflateSync("x", { dictionary: V2_DICTIONARY }))).toBe(V2_DICTIONARY_ID);
    expect(dictionaryIdOf(deflateSync("x"))).toBeNull();
    // FDICT set but too short to hold the id: nothing to look up (the inflater then refuses the stream).
    expect(dictionaryIdOf(Uint8Array.of(0x78, 0xbb, 0x93, 0xac))).toBeNull();
    expect(dictionaryIdOf(new Uint8Array(0))).toBeNull();
  });
});

test("docs/links.md prints the dictionary's exact bytes", () => {
  const markdown = readFileSync(join(import.meta.dir, "../../docs/links.md"), "utf8");
  const block = /```text v2-dictionary\n([\s\S]*?)\n```/.exec(markdown)?.[1];
  expect(block?.split("\n").join("")).toBe(new TextDecoder().decode(V2_DICTIONARY));
});
