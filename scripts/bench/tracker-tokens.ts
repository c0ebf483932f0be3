/**
 * @module Writes the request paths for scripts/bench/tracker.sh: `count` distinct v2 tokens (distinct
 * message ids, so the tracker's per-message memory is exercised as real mail does), one path per line.
 * Usage: bun scripts/bench/tracker-tokens.ts <open|click|mixed> <count> <kid:secret> > paths.txt
 * {@link tokenPaths} makes the same paths for scripts/bench/tracker-inproc.ts.
 */
import { createLinkCodec, type LinkCodec } from "../../src/core/link-codec.ts";
import { parseKeyRing } from "../../src/core/key-ring.ts";
import { nativePrimitives } from "../../src/runtime/codec-primitives.ts";

/** `count` request paths of `kind` ("mixed": one click in four), each for a message of its own. */
export function tokenPaths(codec: Pick<LinkCodec, "encode">, kind: string, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const msgId = `0000${(0x10000000 + i).toString(16)}${Math.random().toString(16).slice(2, 10)}`;
    const click = kind === "click" || (kind === "mixed" && i % 4 === 0);
    const token = click
      ? codec.encode({ action: "click", msgId, rcpt: `user${i}@example.com`, targetUrl: `https://www.example.com/landing/${i}?utm_source=mail` })
      : codec.encode({ action: "open", msgId, rcpt: `user${i}@example.com`, targetUrl: null });
    out.push(`/${token}`);
  }
  return out;
}

if (import.meta.main) {
  const [kind = "open", countText = "10000", keySpec = "bench:0123456789abcdef0123456789abcdef"] = process.argv.slice(2);
  const codec = createLinkCodec({ primitives: nativePrimitives, keys: parseKeyRing([keySpec]) });
  process.stdout.write(`${tokenPaths(codec, kind, Number(countText)).join("\n")}\n`);
}
