/**
 * @module Link codec benchmark: `bun scripts/bench/links.ts [--runs 7] [--ms 300] [--stock]` (also runs under `deno run -A`).
 * `--runs 7` gives 70 rounds; `--ms 300` is each case's time per 10 rounds; `--stock` runs codec and floor on
 * the stock node:zlib / node:crypto primitives instead of nativePrimitives (the before of BENCHMARKS.md).
 *
 * Prints encode and verify+decode operations per second for v1, v2 (compact: the preset dictionary) and
 * v2-plain, and in the same run the cost floor of decoding: bare inflate + HMAC-SHA256 (v2 only) + JSON.parse on exactly the bytes the token carries, with no
 * codec around them. The ratio codec/floor is the figure to compare across machines. Medians of several runs,
 * measured in short interleaved rounds so a noisy neighbour hits codec and floor alike.
 */
import process from "node:process";
import { createLinkCodec, type LinkFields } from "../../src/core/link-codec.ts";
import { parseKeyRing } from "../../src/core/key-ring.ts";
import { dictionaryIdOf, V2_DICTIONARY } from "../../src/core/link-dictionary.ts";
import { nativePrimitives, stockPrimitives } from "../../src/runtime/codec-primitives.ts";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const RUNS = arg("runs", 7);
const MS = arg("ms", 300);
const STOCK = process.argv.includes("--stock");
// The floor calls the same primitives as the codec, so the ratio measures the codec's own overhead.
const P = STOCK ? stockPrimitives : nativePrimitives;

const keys = parseKeyRing(["k1:bench-secret-0123456789abcdef"]);
const codec = createLinkCodec({ primitives: P, keys, acceptV1: true });
const fields: LinkFields = {
  action: "click",
  msgId: "0000ecd8086b5cac6a04",
  rcpt: "fred.bloggs@example.com",
  targetUrl: "https://www.example.com/products/summer-sale?utm_source=newsletter&utm_medium=email&utm_campaign=june",
};
const now = Date.now();
const v1 = codec.encode(fields, { format: "v1" });
const v2 = codec.encode(fields);
const v2Plain = codec.encode(fields, { format: "v2-plain" });

// The floor works on what the token carries, already out of base64: the compressed payload, and for v2 the
// signed text and the key. It is the least any decoder must do: authenticate, inflate, parse.
const enc = new TextEncoder();
const dec = new TextDecoder();
const v1Zipped = Uint8Array.fromBase64(v1, { alphabet: "base64url" });
const [, , v2Payload] = v2.split(".");
const v2Zipped = Uint8Array.fromBase64(v2Payload!, { alphabet: "base64url" });
const v2Signed = enc.encode(v2.slice(0, v2.lastIndexOf(".")));
// Compact unless the runtime cannot write the dictionary (Deno): then the floor inflates a plain stream.
const v2Dictionary = dictionaryIdOf(v2Zipped) === null ? undefined : V2_DICTIONARY;
const secret = keys[0]!.secret;
const CAP = 8192;

let sink = 0; // keeps results alive so no engine can drop the work
const cases: Record<string, () => void> = {
  "v1 encode": () => { sink += codec.encode(fields, { format: "v1" }).length; },
  "v2 encode": () => { sink += codec.encode(fields).length; },
  "v2-plain encode": () => { sink += codec.encode(fields, { format: "v2-plain" }).length; },
  "v1 decode": () => { sink += codec.decode(v1, { now }).ok ? 1 : 0; },
  "v2 verify+decode": () => { sink += codec.decode(v2, { now }).ok ? 1 : 0; },
  "v2-plain verify+decode": () => { sink += codec.decode(v2Plain, { now }).ok ? 1 : 0; },
  "v1 floor (inflate + JSON.parse)": () => { sink += JSON.parse(dec.decode(P.inflate(v1Zipped, CAP))).act.length; },
  "v2 floor (HMAC + inflate + JSON.parse)": () => {
    sink += P.hmacSha256(secret, v2Signed)[0]!;
    sink += JSON.parse(dec.decode(P.inflate(v2Zipped, CAP, v2Dictionary))).a.length;
  },
};

function opsPerSecond(fn: () => void, ms: number): number {
  for (let i = 0; i < 50; i++) fn(); // warm up
  let ops = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 100; i++) fn();
    ops += 100;
    elapsed = performance.now() - start;
  }
  return (ops * 1000) / elapsed;
}

// Each round times every case for a short slice, back to back, and the codec/floor ratio is taken per round:
// on a shared machine the load changes between rounds, far less within one.
const samples: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const ratios = { v1: [] as number[], v2: [] as number[] };
const F1 = "v1 floor (inflate + JSON.parse)";
const F2 = "v2 floor (HMAC + inflate + JSON.parse)";
for (let run = 0; run < RUNS * 10; run++) {
  const round: Record<string, number> = {};
  for (const [name, fn] of Object.entries(cases)) samples[name]!.push((round[name] = opsPerSecond(fn, MS / 10)));
  ratios.v1.push(round["v1 decode"]! / round[F1]!);
  ratios.v2.push(round["v2 verify+decode"]! / round[F2]!);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const m = Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, median(xs)]));

const runtime = "Bun" in globalThis ? `bun ${process.versions.bun}` : "Deno" in globalThis ? `deno ${process.versions.deno}` : `node ${process.versions.node}`;
const fmt = (n: number) => Math.round(n).toLocaleString("en-US").padStart(11);
const pct = (xs: number[]) => `${(median(xs) * 100).toFixed(0).padStart(10)} %`;
const out = [
  `link codec benchmark (${runtime}, ${STOCK || P === stockPrimitives ? "stock" : "native"} primitives; medians of ${RUNS * 10} rounds of ${MS / 10} ms per case; v1 token ${v1.length} chars, v2 token ${v2.length} chars, v2-plain ${v2Plain.length})`,
  ...Object.keys(cases).map((name) => `  ${name.padEnd(40)} ${fmt(m[name]!)} ops/s`),
  `  v1 decode / v1 floor (median per round)  ${pct(ratios.v1)}`,
  `  v2 verify+decode / v2 floor (per round)  ${pct(ratios.v2)}`,
];
process.stdout.write(`${out.join("\n")}\n`);
if (sink === 42) process.stdout.write("\n");
