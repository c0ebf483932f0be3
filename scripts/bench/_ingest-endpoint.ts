/**
 * @module Benchmark endpoint, run as its own process: a SparkPost-like ingest that gunzips and parses every
 * NDJSON line, counting its own busy time (so the feeder's and the endpoint's costs are told apart).
 * Usage: bun scripts/bench/_ingest-endpoint.ts <delayMs>; prints its port on stdout.
 */
import { gunzipSync } from "node:zlib";

const delayMs = Number(process.argv[2] ?? 0);
let events = 0;
let requests = 0;
let busyMs = 0;
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  maxRequestBodySize: 64 * 1024 * 1024,
  async fetch(req) {
    const url = new URL(req.url);
    if (req.method === "GET" && url.pathname === "/stats") return Response.json({ events, requests, busyMs });
    if (req.method === "POST" && url.pathname === "/reset") {
      events = requests = busyMs = 0;
      return new Response("ok");
    }
    const body = new Uint8Array(await req.arrayBuffer());
    const t0 = performance.now();
    const text = new TextDecoder().decode(gunzipSync(body));
    let n = 0;
    for (const line of text.split("\n")) {
      if (line === "") continue;
      JSON.parse(line);
      n++;
    }
    busyMs += performance.now() - t0;
    if (delayMs > 0) await Bun.sleep(delayMs);
    events += n;
    requests++;
    return Response.json({ results: { id: `b${requests}` } });
  },
});
process.stdout.write(`${server.port}\n`);
