/** @module Test double of SparkPost Signals Ingest on loopback: a real HTTP server that checks what SparkPost checks. */
import { gunzipSync } from "node:zlib";

export interface ReceivedBatch {
  /** Parsed NDJSON lines. */
  events: { msys: { track_event: Record<string, unknown> } }[];
  lines: string[];
  rawBytes: number;
  gzBytes: number;
  at: number;
  headers: Record<string, string>;
}

export interface Answer {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  delayMs?: number;
}

export interface IngestServerOptions {
  apiKey?: string;
  port?: number;
  /** Decides the answer to a valid request (n = request number from 0); default 200 with a results.id. */
  answer?: (n: number, batch: ReceivedBatch) => Answer | Promise<Answer>;
  /** Only batches answered 2xx are recorded in `accepted`. */
}

/** The 5 MiB limit SparkPost applies to the uncompressed body. */
const maxRaw = 5 * 1024 * 1024;

/** Starts the endpoint; `stop()` and `start()` take it down and up on the same port (an outage). */
export async function startIngestServer(opts: IngestServerOptions = {}) {
  const apiKey = opts.apiKey ?? "test-key";
  const accepted: ReceivedBatch[] = [];
  const violations: string[] = [];
  let requests = 0;
  let serveMs = 0;
  let server: ReturnType<typeof Bun.serve> | null = null;
  let port = opts.port ?? 0;

  async function handle(req: Request): Promise<Response> {
    const t0 = performance.now();
    const n = requests++;
    const fail = (status: number, message: string) => {
      violations.push(message);
      return Response.json({ errors: [{ message }] }, { status });
    };
    try {
      const url = new URL(req.url);
      if (req.method !== "POST") return fail(405, `method ${req.method}`);
      if (url.pathname !== "/api/v1/ingest/events") return fail(404, `path ${url.pathname}`);
      if (req.headers.get("authorization") !== apiKey) return fail(401, `authorization ${req.headers.get("authorization")}`);
      if (req.headers.get("content-encoding") !== "gzip") return fail(400, `content-encoding ${req.headers.get("content-encoding")}`);
      if (req.headers.get("content-type") !== "application/x-ndjson") return fail(400, `content-type ${req.headers.get("content-type")}`);
      const gz = new Uint8Array(await req.arrayBuffer());
      const raw = gunzipSync(gz);
      if (raw.byteLength >= maxRaw) return fail(413, `payload ${raw.byteLength} bytes >= 5 MiB`);
      const text = new TextDecoder().decode(raw);
      if (!text.endsWith("\n")) return fail(400, "body does not end with a newline");
      const lines = text.slice(0, -1).split("\n");
      const events = lines.map((l) => JSON.parse(l));
      for (const e of events) {
        const t = e?.msys?.track_event;
        if (!t || typeof t.event_id !== "string" || typeof t.timestamp !== "string" || t.timestamp.length < 10 || typeof t.ip_address !== "string") {
          return fail(400, `bad event ${JSON.stringify(e).slice(0, 200)}`);
        }
      }
      const batch: ReceivedBatch = { events, lines, rawBytes: raw.byteLength, gzBytes: gz.byteLength, at: Date.now(), headers: Object.fromEntries(req.headers) };
      serveMs += performance.now() - t0;
      const answer = opts.answer ? await opts.answer(n, batch) : { status: 200 };
      if (answer.delayMs) await Bun.sleep(answer.delayMs);
      if (answer.status >= 200 && answer.status < 300) accepted.push(batch);
      return new Response(answer.body ?? JSON.stringify({ results: { id: `batch-${n}` } }), {
        status: answer.status,
        headers: { "Content-Type": "application/json", ...answer.headers },
      });
    } catch (error) {
      return fail(400, `unparsable body: ${(error as Error).message}`);
    }
  }

  function start() {
    server = Bun.serve({ port, hostname: "127.0.0.1", fetch: handle, maxRequestBodySize: 64 * 1024 * 1024 });
    port = server.port!;
  }
  start();
  return {
    get url() { return `http://127.0.0.1:${port}`; },
    get port() { return port; },
    accepted,
    violations,
    get requests() { return requests; },
    /** Time spent checking and parsing bodies (the endpoint's own work), ms. */
    get serveMs() { return serveMs; },
    /** Every accepted event, flattened. */
    events: () => accepted.flatMap((b) => b.events.map((e) => e.msys.track_event)),
    stop: async () => { await server?.stop(true); server = null; },
    start,
  };
}
export type IngestServer = Awaited<ReturnType<typeof startIngestServer>>;
