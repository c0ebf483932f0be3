/**
 * @module Per-call cost of the link codec's primitives: `bun scripts/bench/codec-primitives.ts [--rounds 40]`.
 * Times deflate, inflate (cap 8 KiB) and HMAC-SHA256 on a realistic v2 click payload, for the stock node:zlib /
 * node:crypto calls and for nativePrimitives (under Bun the reused streams and cached key state), in
 * interleaved rounds of 20 ms per case; prints the median µs per call.
 */
import process from "node:process";
import { nativePrimitives, stockPrimitives } from "../../src/runtime/codec-primitives.ts";

const i = process.argv.indexOf("--rounds");
const ROUNDS = i > 0 ? Number(process.argv[i + 1]) : 40;
const enc = new TextEncoder();
const json = enc.encode(JSON.stringify({ a: "c", m: "0000ecd8086b5cac6a04", r: "fred.bloggs@example.com", u: "https://www.example.com/products/summer-sale?utm_source=newsletter&utm_medium=email&utm_campaign=june" }));
const zipped = stockPrimitives.deflate(json);
const key = enc.encode("bench-secret-0123456789abcdef");
const signed = enc.encode(`2.k1.${zipped.toBase64({ alphabet: "base64url", omitPadding: true })}`);

let sink = 0;
const cases: Record<string, () => void> = {};
for (const [name, p] of [["stock", stockPrimitives], ["native", nativePrimitives]] as const) {
  cases[`deflate  ${name}`] = () => { sink += p.deflate(json).length; };
  cases[`inflate  ${name}`] = () => { sink += p.inflate(zipped, 8192).length; };
  cases[`hmac     ${name}`] = () => { sink += p.hmacSha256(key, signed)[0]!; };
}
const samples: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of Object.entries(cases)) {
    for (let j = 0; j < 50; j++) fn();
    let n = 0;
    const start = performance.now();
    while (performance.now() - start < 20) { for (let j = 0; j < 50; j++) fn(); n += 50; }
    samples[name]!.push(((performance.now() - start) * 1000) / n);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const runtime = "Bun" in globalThis ? `bun ${process.versions.bun}` : "Deno" in globalThis ? `deno ${process.versions.deno}` : `node ${process.versions.node}`;
process.stdout.write(`codec primitives (${runtime}; median µs per call over ${ROUNDS} interleaved rounds; payload ${json.length} B, zlib ${zipped.length} B)\n`);
for (const [name, xs] of Object.entries(samples)) process.stdout.write(`  ${name.padEnd(16)} ${median(xs).toFixed(2).padStart(7)} µs\n`);
if (sink === 42) process.stdout.write("\n");
