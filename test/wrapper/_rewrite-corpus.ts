/**
 * Rewrites every corpus message with a fixed message id, both engines, and prints `{ name: sha256 }` as
 * JSON: run by `rewriter-deno.test.ts` under Deno, to compare with Bun's bytes. Links are v2-plain: Deno's
 * deflate cannot write v2's preset dictionary (codec-primitives.ts), and what this compares is the rewriting.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseKeyRing } from "../../src/core/key-ring.ts";
import { createLinkCodec } from "../../src/core/link-codec.ts";
import { nativePrimitives } from "../../src/runtime/codec-primitives.ts";
import { rewriteMessageBytes, type MessageRewriterDeps } from "../../src/wrapper/message-rewriter.ts";

export async function rewriteCorpusHashes(): Promise<Record<string, string>> {
  const dir = fileURLToPath(new URL("./fixtures/", import.meta.url));
  const codec = createLinkCodec({ primitives: nativePrimitives, keys: parseKeyRing(["k1:0123456789abcdef0123456789abcdef"]) });
  const deps: MessageRewriterDeps = {
    codec,
    trackingUrl: "https://t.example.net/trk",
    options: { trackOpen: true, trackInitialOpen: true, trackClick: true, trackText: true },
  };
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).filter((f) => f.endsWith(".eml")).sort()) {
    const input = readFileSync(dir + name);
    for (const htmlEngine of ["scan", "parse5"] as const) {
      const { bytes } = await rewriteMessageBytes({ ...deps, settings: { htmlEngine, linkFormat: "v2-plain" } }, input, { rcpt: "jane@example.net", messageId: "0000aaaabbbbccccdddd" });
      out[`${name} ${htmlEngine}`] = createHash("sha256").update(bytes).digest("hex");
    }
  }
  return out;
}

if (import.meta.main) console.log(JSON.stringify(await rewriteCorpusHashes()));
