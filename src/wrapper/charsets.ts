/**
 * @module Charset handling for rewritten parts. Most mail charsets are ASCII-compatible (UTF-8, ISO-8859-*,
 * windows-125x, KOI8, GB*, Big5, Shift_JIS, EUC-*): every byte of HTML markup (`<`, `>`, quotes, `=`, `&`,
 * whitespace, tag names) is the ASCII byte itself, so such parts are rewritten as latin1 "binary" strings and
 * come out byte-identical except for the edits, with no charset round trip at all. The others (UTF-16/32,
 * UTF-7, ISO-2022-*, HZ, EBCDIC) are decoded, rewritten, and written as UTF-8 with the charset updated.
 */
import iconv from "iconv-lite";

const NOT_ASCII_COMPATIBLE = /^(utf-?16|utf-?32|ucs-?2|ucs-?4|unicode|utf-?7|csunicode|iso-?2022|csiso2022|hz-?gb|ebcdic|cp0?37$|ibm0?37$|cp500|ibm500|cp875|cp1026|ibm1026|cp114[0-9]|ibm114[0-9]|x-mac-?utf)/i;

/** How a part in this charset is rewritten. */
export type CharsetKind = "ascii-compatible" | "transcode";

/** Classifies a charset label (missing = US-ASCII per RFC 2045, so ASCII-compatible). */
export function charsetKind(label: string | false | undefined): CharsetKind {
  return label && NOT_ASCII_COMPATIBLE.test(label.trim()) ? "transcode" : "ascii-compatible";
}

function normalise(label: string | false | undefined): string {
  const name = (label || "us-ascii").trim().toLowerCase();
  return name === "ascii" || name === "us-ascii" || name === "" ? "utf-8" : name; // ASCII text decodes the same as UTF-8
}

/** Decodes bytes strictly; null when the charset is unknown or the bytes are not valid in it. */
export function decodeStrict(bytes: Uint8Array, label: string | false | undefined): string | null {
  const name = normalise(label);
  try {
    return new TextDecoder(name, { fatal: true, ignoreBOM: true }).decode(bytes); // a BOM stays a character, so it round-trips
  } catch {
    // not a WHATWG label, or invalid bytes: iconv-lite knows more labels but is never "fatal"
  }
  if (!iconv.encodingExists(name)) return null;
  const text = iconv.decode(Buffer.from(bytes), name);
  return text.includes("\uFFFD") ? null : text;
}

/** Encodes text back into the charset; null when it cannot be done losslessly. */
export function encodeStrict(text: string, label: string | false | undefined): Buffer | null {
  const name = normalise(label);
  if (name === "utf-8" || name === "utf8") return Buffer.from(text, "utf8");
  if (!iconv.encodingExists(name)) return null;
  try {
    const bytes = iconv.encode(text, name);
    return iconv.decode(bytes, name) === text ? bytes : null;
  } catch {
    return null;
  }
}

const ASCII = /^[\x00-\x7f]*$/;

/** Decodes one raw attribute value taken from a binary string of an ASCII-compatible part. */
export function decodeBinaryValue(raw: string, label: string | false | undefined): string | null {
  if (ASCII.test(raw)) return raw;
  return decodeStrict(Buffer.from(raw, "latin1"), label);
}
