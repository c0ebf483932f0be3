/** @module The HTTP adapter over real sockets: what a client sees when a handler fails. */
import { describe, expect, test } from "bun:test";
import { serve } from "../../src/runtime/serve.ts";

describe("serve()", () => {
  test("a handler that throws, with an error report that throws too, answers a bare 500 that shows nothing of either", async () => {
    const reported: unknown[] = [];
    const server = await serve(
      () => {
        throw new Error("handler-secret /etc/mtatrack/key");
      },
      {
        hostname: "127.0.0.1",
        port: 0,
        onError: (err) => {
          reported.push(err);
          throw new Error("report-secret");
        },
      },
    );
    try {
      for (let i = 0; i < 2; i++) {
        const res = await fetch(server.url);
        const body = await res.text();
        expect(res.status).toBe(500);
        // Bun's development mode (its default without NODE_ENV) would answer a page of the error and its source.
        expect(body).toBe("");
      }
      expect(reported.map((e) => (e as Error).message)).toEqual(["handler-secret /etc/mtatrack/key", "handler-secret /etc/mtatrack/key"]);
    } finally {
      await server.close({ graceMs: 1000 });
    }
  });

  test("a handler whose promise rejects is answered the same way, and the server keeps serving", async () => {
    let calls = 0;
    const server = await serve(
      async () => {
        if (calls++ === 0) throw new Error("first request fails");
        return new Response("ok");
      },
      { hostname: "127.0.0.1", port: 0 },
    );
    try {
      const failed = await fetch(server.url);
      expect(failed.status).toBe(500);
      expect(await failed.text()).toBe("");
      const next = await fetch(server.url);
      expect(next.status).toBe(200);
      expect(await next.text()).toBe("ok");
    } finally {
      await server.close({ graceMs: 1000 });
    }
  });
});
