/** @module A tiny HTTP listener for `GET /metrics` (node:http, which Bun and Deno both implement). */
import { createServer } from "node:http";

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
  const server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
      return;
    }
    render().then(
      ({ contentType, body }) => res.writeHead(200, { "Content-Type": contentType }).end(body),
      (error: Error) => res.writeHead(500, { "Content-Type": "text/plain" }).end(`${error.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const bound = server.address() as { port: number };
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${bound.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
