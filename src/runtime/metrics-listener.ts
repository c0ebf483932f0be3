/** @module A tiny listener for `GET /metrics` on the project's HTTP adapter (serve.ts: Bun.serve or Deno.serve). */
import { serve } from "./serve.ts";

export interface MetricsListener {
  /** `http://host:port`, with the port actually bound. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` from `render`; every other path is 404. Resolves once listening.
 * @example const l = await listenMetrics(() => metrics.render(), { host: "127.0.0.1", port: 9464 });
 */
export async function listenMetrics(
  render: () => Promise<{ contentType: string; body: string }>,
  { host, port }: { host: string; port: number },
): Promise<MetricsListener> {
  const handle = await serve(async (req) => {
    if (req.method !== "GET" || new URL(req.url).pathname !== "/metrics") return new Response("not found\n", { status: 404 });
    try {
      const { contentType, body } = await render();
      return new Response(body, { headers: { "Content-Type": contentType } });
    } catch (error) {
      return new Response(`${(error as Error).message}\n`, { status: 500 });
    }
  }, { hostname: host, port });
  return { url: handle.url.replace(/\/$/, ""), close: () => handle.close({ graceMs: 1000 }) };
}
