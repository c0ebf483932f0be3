/**
 * @module The tracker's own HTTP/1.1 server over real sockets: keep-alive and pipelining in order, the limits
 * and the refusals a client sees, bodies never read, slow heads, back-pressure, graceful close.
 */
import { afterEach, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { connect, type Socket } from "node:net";
import { ANSWER_LATER, type WireForm } from "../../src/core/http1-head.ts";
import type { ServeHandle, ServeRequest } from "../../src/runtime/serve.ts";
import { serveWire, type WireHandler, type WireServeOptions } from "../../src/runtime/wire-serve.ts";

let server: ServeHandle | null = null;
afterEach(async () => {
  await server?.close({ graceMs: 500 });
  server = null;
});

const start = async (handler: WireHandler, opts: Partial<WireServeOptions> = {}) => {
  server = await serveWire(handler, { hostname: "127.0.0.1", port: 0, ...opts });
  return server;
};

/** A raw client: what was received so far, and whether the server closed. */
interface Raw {
  socket: Socket;
  text(): string;
  closed: Promise<void>;
  /** Resolves once the received text satisfies `done`, or rejects after `ms`. */
  until(done: (text: string) => boolean, ms?: number): Promise<string>;
}
const open = (port: number): Promise<Raw> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const waiters = new Set<() => void>();
    const socket = connect(port, "127.0.0.1");
    const closed = new Promise<void>((res) => socket.on("close", () => res()));
    socket.on("data", (d) => {
      chunks.push(Buffer.from(d));
      for (const w of waiters) w();
    });
    socket.on("close", () => {
      for (const w of waiters) w();
    });
    socket.on("error", () => {});
    const text = () => Buffer.concat(chunks).toString("latin1");
    socket.on("connect", () =>
      resolve({
        socket,
        text,
        closed,
        until: (done, ms = 5000) =>
          new Promise((res, rej) => {
            const check = () => {
              if (done(text())) {
                waiters.delete(check);
                clearTimeout(timer);
                res(text());
              }
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              rej(new Error(`timed out; received: ${JSON.stringify(text())}`));
            }, ms);
            waiters.add(check);
            check();
          }),
      }),
    );
    socket.on("error", reject);
  });
const count = (text: string, needle: string) => text.split(needle).length - 1;
/** A handler that answers "ok" and counts its calls. */
const answersOk = () => {
  const ok = { calls: 0, handler: () => (ok.calls++, new Response("ok")) };
  return ok;
};
const get = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;

describe("serveWire", () => {
  test("the handler gets the target as sent, and a URL from Host (or the absolute target, or localhost for a bad Host)", async () => {
    const seen: string[] = [];
    const s = await start((req) => {
      seen.push(`${req.target} ${req.url}`);
      return new Response("ok");
    });
    const raw = await open(s.port);
    raw.socket.write("GET /a?b=1 HTTP/1.1\r\nHost: t.example:8080\r\n\r\n");
    raw.socket.write("GET http://x.example/p?q HTTP/1.1\r\nHost: t\r\n\r\n");
    raw.socket.write("GET /c HTTP/1.1\r\nHost: bad host/\r\n\r\n");
    await raw.until((t) => count(t, "HTTP/1.1 200") === 3);
    expect(seen).toEqual(["/a?b=1 http://t.example:8080/a?b=1", "http://x.example/p?q http://x.example/p?q", "/c http://localhost/c"]);
    raw.socket.destroy();
  });

  test("keep-alive: requests on one connection are answered in turn, with the peer address, Date and Content-Length", async () => {
    const seen: string[] = [];
    const s = await start((req, info) => {
      seen.push(`${req.method} ${new URL(req.url).pathname} ${req.headers.get("user-agent")} ${info.remoteAddress}`);
      return new Response("hello", { headers: { "X-Test": "1" } });
    });
    const c = await open(s.port);
    c.socket.write(get("/a", "User-Agent: ua-1\r\n"));
    await c.until((t) => t.endsWith("hello"));
    c.socket.write(get("/b", "User-Agent: ua-2\r\n"));
    const text = await c.until((t) => count(t, "hello") === 2);
    expect(seen).toEqual(["GET /a ua-1 127.0.0.1", "GET /b ua-2 127.0.0.1"]);
    expect(text).toStartWith("HTTP/1.1 200 OK\r\nDate: ");
    expect(text).toContain("x-test: 1\r\n");
    expect(text).toContain("content-type: text/plain;charset=utf-8\r\n");
    expect(text).toContain("Content-Length: 5\r\n");
    expect(text).not.toContain("Connection: close");
    c.socket.destroy();
  });

  test("pipelined requests are answered in the order they came, whichever handler finishes first", async () => {
    const s = await start(async (req) => {
      const n = Number(new URL(req.url).pathname.slice(1));
      await Bun.sleep((5 - n) * 20);
      return new Response(`r${n};`);
    });
    const c = await open(s.port);
    c.socket.write([1, 2, 3, 4, 5].map((n) => get(`/${n}`)).join(""));
    const text = await c.until((t) => (t.match(/r\d;/g) ?? []).length === 5);
    expect(text.match(/r\d;/g)).toEqual(["r1;", "r2;", "r3;", "r4;", "r5;"]);
    c.socket.destroy();
  });

  test("answers through the request's responder (ANSWER_LATER) keep pipeline order, once each; fail() is a bare 500", async () => {
    const reported: string[] = [];
    const s = await start((req) => {
      const n = Number(req.target!.slice(1));
      const responder = req.responder!;
      const form = (text: string): WireForm => ({ status: 200, fields: "Content-Type: text/plain\r\n", body: new TextEncoder().encode(text) });
      // 1 answers before the handler returns, 2 and 3 later in reverse order, 4 fails, 5 is a plain Response.
      if (n === 1) responder.answer(form("r1;"));
      else if (n === 2) setTimeout(() => responder.answer(form("r2;")), 40);
      else if (n === 3) setTimeout(() => (responder.answer(form("r3;")), responder.answer(form("again;"))), 10);
      else if (n === 4) setTimeout(() => responder.fail(new Error("later failure")), 5);
      else return new Response("r5;");
      return ANSWER_LATER;
    }, { onError: (e) => reported.push((e as Error).message) });
    const c = await open(s.port);
    c.socket.write([1, 2, 3, 5].map((n) => get(`/${n}`)).join(""));
    const text = await c.until((t) => (t.match(/r\d;/g) ?? []).length === 4);
    expect(text.match(/r\d;/g)).toEqual(["r1;", "r2;", "r3;", "r5;"]);
    expect(text).not.toContain("again;");
    c.socket.write(get("/4"));
    await c.closed;
    expect(c.text().slice(text.length)).toStartWith("HTTP/1.1 500 Internal Server Error\r\n");
    expect(reported).toEqual(["later failure"]);
  });

  test("header text is written as latin1 bytes unless the form says it is ASCII", async () => {
    const s = await start((req) =>
      req.target === "/ascii"
        ? { status: 302, fields: "Location: http://t.example/a?b=1\r\n", body: null, ascii: true }
        : { status: 302, fields: "Location: http://t.example/a\r\nX-Name: caf\u00e9\r\n", body: null });
    const c = await open(s.port);
    c.socket.write(get("/ascii") + get("/latin1"));
    const text = await c.until((t) => count(t, "HTTP/1.1 302 Found") === 2 && t.endsWith("\r\n\r\n"));
    expect(text).toContain("Location: http://t.example/a?b=1\r\n");
    // One byte 0xE9 on the wire, not UTF-8's two.
    expect(text).toContain("X-Name: caf\xe9\r\n");
    c.socket.destroy();
  });

  test("nothing follows an answer that closes: a bad request behind a slow one, and a rejected handler in a pipeline", async () => {
    const paths: string[] = [];
    const s = await start(async (req) => {
      const path = new URL(req.url).pathname;
      paths.push(path);
      if (path === "/slow") await Bun.sleep(100);
      if (path === "/fails") throw new Error("rejected");
      return new Response(`${path};`);
    });
    const bad = await open(s.port);
    bad.socket.write(get("/slow") + "GET ftp://x/ HTTP/1.1\r\nHost: t\r\n\r\n" + get("/after"));
    await bad.closed;
    expect(bad.text().match(/HTTP\/1\.1 \d+/g)).toEqual(["HTTP/1.1 200", "HTTP/1.1 400"]);
    expect(paths).toEqual(["/slow"]);

    paths.length = 0;
    const failing = await open(s.port);
    failing.socket.write(get("/fails") + get("/next"));
    await failing.closed;
    // /next was read in the same turn and handled, but its answer may not follow the 500's Connection: close.
    expect(failing.text().match(/HTTP\/1\.1 \d+/g)).toEqual(["HTTP/1.1 500"]);
    expect(failing.text()).toContain("Connection: close\r\n");
  });

  test("pipelined requests cut into chunks anywhere are each answered once, in order (generated cuts)", async () => {
    const s = await start(async (req) => {
      const n = new URL(req.url).pathname.slice(1);
      // Some answers wait, some do not: order must not depend on which finish first.
      if (Number(n) % 3 === 0) await Bun.sleep(1);
      return new Response(`<${n}>`);
    });
    const stream = Array.from({ length: 12 }, (_, i) => get(`/${i}`, `User-Agent: ua ${i}\r\nX-Pad: ${"p".repeat(i * 7)}\r\n`)).join("");
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 20 }), async (cuts) => {
        const c = await open(s.port);
        let from = 0;
        for (const at of [...cuts.sort((x, y) => x - y), stream.length]) {
          c.socket.write(stream.slice(from, at));
          from = at;
          await Bun.sleep(0);
        }
        const text = await c.until((t) => (t.match(/<\d+>/g) ?? []).length === 12);
        expect([...(text.match(/<\d+>/g) ?? [])]).toEqual(Array.from({ length: 12 }, (_, i) => `<${i}>`));
        c.socket.destroy();
      }),
      { numRuns: 25 },
    );
  });

  test("a head that arrives a byte at a time is one request", async () => {
    const ok = answersOk();
    const s = await start(ok.handler);
    const c = await open(s.port);
    for (const ch of get("/slowly", "User-Agent: x\r\n")) {
      c.socket.write(ch);
      await Bun.sleep(1);
    }
    await c.until((t) => t.endsWith("ok"));
    expect(ok.calls).toBe(1);
    c.socket.destroy();
  });

  test.each([
    ["a malformed request line", "GET /\r\nHost: t\r\n\r\n", "400 Bad Request"],
    ["a head over the size limit", `GET /${"x".repeat(3000)} HTTP/1.1\r\nHost: t\r\n\r\n`, "431 Request Header Fields Too Large"],
    ["HTTP/2.0", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", "505 HTTP Version Not Supported"],
    ["a target that is neither a path nor an http(s) URL", "GET ftp://x/ HTTP/1.1\r\nHost: t\r\n\r\n", "400 Bad Request"],
  ])("%s: the status, Connection: close, and the connection closed, the handler never called", async (_what, text, status) => {
    const ok = answersOk();
    const s = await start(ok.handler, { maxHeadBytes: 2048 });
    const c = await open(s.port);
    c.socket.write(text);
    await c.closed;
    expect(c.text()).toStartWith(`HTTP/1.1 ${status}\r\n`);
    expect(c.text()).toContain("Connection: close\r\n");
    expect(ok.calls).toBe(0);
  });

  test("a request with a body is answered, then the connection is closed: the body is never taken for a request", async () => {
    const paths: string[] = [];
    const s = await start((req) => {
      paths.push(`${req.method} ${new URL(req.url).pathname}`);
      return new Response(null, { status: 405 });
    });
    for (const body of ["Content-Length: 42\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n", "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"]) {
      const c = await open(s.port);
      c.socket.write(`POST /form HTTP/1.1\r\nHost: t\r\n${body}`);
      await c.closed;
      expect(c.text()).toStartWith("HTTP/1.1 405 Method Not Allowed\r\n");
      expect(count(c.text(), "HTTP/1.1 ")).toBe(1);
    }
    expect(paths).toEqual(["POST /form", "POST /form"]);
  });

  test("HTTP/1.0 closes after the answer unless it asked for keep-alive; Connection: close is honoured", async () => {
    const s = await start(() => new Response("ok"));
    const plain = await open(s.port);
    plain.socket.write("GET / HTTP/1.0\r\n\r\n");
    await plain.closed;
    expect(plain.text()).toContain("Connection: close\r\n");

    const kept = await open(s.port);
    kept.socket.write("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    await kept.until((t) => t.endsWith("ok"));
    expect(kept.text()).toContain("Connection: keep-alive\r\n");
    kept.socket.write("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    await kept.until((t) => count(t, "\r\n\r\nok") === 2);
    kept.socket.destroy();

    const closing = await open(s.port);
    closing.socket.write(get("/", "Connection: close\r\n"));
    await closing.closed;
    expect(closing.text()).toContain("Connection: close\r\n");
  });

  test("a head not complete within the head timeout gets 408 and the connection closes", async () => {
    const s = await start(() => new Response("ok"), { headTimeoutSeconds: 1 });
    const c = await open(s.port);
    c.socket.write("GET / HTTP/1.1\r\nHost: t\r\n");
    // Bytes keep coming, so the idle timeout never fires: only the head timeout can end this.
    const drip = setInterval(() => c.socket.write("X-Drip: 1\r\n"), 200);
    try {
      await c.closed;
    } finally {
      clearInterval(drip);
    }
    expect(c.text()).toStartWith("HTTP/1.1 408 Request Timeout\r\n");
  });

  test("the idle timeout closes a quiet connection, never a busy one", async () => {
    const ok = answersOk();
    const s = await start(ok.handler, { idleTimeoutSeconds: 5 });
    const busy = await open(s.port);
    const quiet = await open(s.port);
    let quietClosedAt = 0;
    void quiet.closed.then(() => (quietClosedAt = Date.now()));
    const started = Date.now();
    // The sweep runs once a second, so the quiet one goes 5-6 s in; the busy one outlives it by 6 s.
    for (let i = 1; Date.now() - started < 12_000; i++) {
      busy.socket.write(get("/"));
      await busy.until((t) => count(t, "\r\n\r\nok") === i);
      await Bun.sleep(400);
    }
    expect(quietClosedAt - started).toBeGreaterThanOrEqual(4_900);
    expect(quietClosedAt - started).toBeLessThan(8_000);
    expect(busy.socket.destroyed).toBe(false);
    busy.socket.destroy();
    expect(ok.calls).toBeGreaterThan(15);
  }, 30_000);

  test("a client that stops taking its answers is closed after the idle timeout", async () => {
    // 16 MiB of answers: more than loopback's socket buffers hold, so most of it stays in the server's backlog.
    const big = new Uint8Array(16 * 1024 * 1024);
    const s = await start(() => new Response(big), { idleTimeoutSeconds: 2 });
    const c = await open(s.port);
    c.socket.pause();
    const started = Date.now();
    c.socket.write(get("/big"));
    await c.closed;
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1_900);
    expect(took).toBeLessThan(6_000);
    expect(c.text().length).toBe(0);
  }, 15_000);

  test("a handler that throws or rejects gets a bare 500, and the error is reported", async () => {
    const reported: string[] = [];
    const s = await start((req) => {
      if (req.url.endsWith("/sync")) throw new Error("sync failure");
      return Promise.reject(new Error("async failure"));
    }, { onError: (e) => reported.push((e as Error).message) });
    for (const path of ["/sync", "/async"]) {
      const c = await open(s.port);
      c.socket.write(get(path));
      await c.closed;
      expect(c.text()).toStartWith("HTTP/1.1 500 Internal Server Error\r\n");
      expect(c.text()).not.toContain("failure");
    }
    expect(reported).toEqual(["sync failure", "async failure"]);
  });

  test("a large answer to a client that reads slowly arrives whole (back-pressure), and the next one after it", async () => {
    const big = new Uint8Array(8 * 1024 * 1024).map((_, i) => i % 251);
    const s = await start((req) => (req.url.endsWith("/big") ? new Response(big) : new Response("after")));
    const c = await open(s.port);
    c.socket.pause();
    c.socket.write(get("/big") + get("/small"));
    await Bun.sleep(300);
    c.socket.resume();
    const text = await c.until((t) => t.endsWith("after"), 15_000);
    const bodyStart = text.indexOf("\r\n\r\n") + 4;
    const body = Buffer.from(text.slice(bodyStart, bodyStart + big.length), "latin1");
    expect(body.equals(Buffer.from(big))).toBe(true);
    expect(text.slice(bodyStart + big.length)).toStartWith("HTTP/1.1 200 OK\r\n");
    c.socket.destroy();
  });

  test("a handler's wire form is written as it is, Date and Content-Length added; HEAD gets its declared length and no body", async () => {
    const gif = new Uint8Array([71, 73, 70]);
    const getForm: WireForm = { status: 200, fields: "X-Form: get\r\n", body: gif };
    const headForm: WireForm = { status: 200, fields: "X-Form: head\r\n", body: null, headLength: 3 };
    const s = await start((req: ServeRequest) => (req.method === "HEAD" ? headForm : getForm));
    const c = await open(s.port);
    c.socket.write(get("/p") + "HEAD /p HTTP/1.1\r\nHost: t\r\n\r\n" + get("/p"));
    const text = await c.until((t) => count(t, "GIF") === 2 && t.includes("X-Form: head"));
    const answers = text.split("HTTP/1.1 ").slice(1);
    expect(answers).toHaveLength(3);
    expect(answers[0]).toMatch(/^200 OK\r\nDate: [^\r]+ GMT\r\nX-Form: get\r\nContent-Length: 3\r\n\r\nGIF$/);
    expect(answers[1]).toMatch(/^200 OK\r\nDate: [^\r]+ GMT\r\nX-Form: head\r\nContent-Length: 3\r\n\r\n$/);
    expect(answers[2]).toBe(answers[0]!);
    c.socket.destroy();
  });

  test("close(): stops accepting, lets the request in flight finish, closes idle connections", async () => {
    let release = () => {};
    const s = await start((req) =>
      req.url.endsWith("/slow") ? new Promise<Response>((r) => (release = () => r(new Response("late")))) : new Response("ok"),
    );
    const idle = await open(s.port);
    idle.socket.write(get("/"));
    await idle.until((t) => t.endsWith("ok"));
    const busy = await open(s.port);
    busy.socket.write(get("/slow"));
    await Bun.sleep(50);
    const closing = s.close({ graceMs: 5000 });
    await idle.closed;
    await expect(fetch(`http://127.0.0.1:${s.port}/`)).rejects.toThrow();
    release();
    await busy.closed;
    expect(busy.text()).toEndWith("late");
    await closing;
    server = null;
  });

  test("an HTTP client library sees ordinary answers (fetch, with redirects left alone)", async () => {
    const s = await start((req) =>
      req.url.endsWith("/go") ? new Response(null, { status: 302, headers: { Location: "https://example.com/x" } }) : new Response("body", { headers: { "Content-Type": "text/plain" } }),
    );
    const res = await fetch(`${s.url}page`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain");
    expect(await res.text()).toBe("body");
    const moved = await fetch(`${s.url}go`, { redirect: "manual" });
    expect(moved.status).toBe(302);
    expect(moved.headers.get("location")).toBe("https://example.com/x");
    expect(await moved.text()).toBe("");
  });
});
