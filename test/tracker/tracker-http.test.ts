/**
 * The tracker over real HTTP against both store backends: every row of reference §3's request table with
 * the intended fixes, proxies, HEAD, robots, metrics, machine verdicts and first flags.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { join } from "node:path";
import { createCidrSet } from "../../src/core/cidr-set.ts";
import type { HttpServerKind } from "../../src/core/tracker-config.ts";
import { serve } from "../../src/runtime/serve.ts";
import { openSpool } from "../../src/tracker/spool.ts";
import { createTracker } from "../../src/tracker/tracker.ts";
import { TRANSPARENT_GIF } from "../../src/tracker/handler.ts";
import { createLogger } from "../../src/log.ts";
import { describeWithRedis, redisUnavailableReason } from "../helpers/redis-server.ts";
import { startFixture, v1Token, type Fixture } from "./_fixture.ts";

const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const get = (f: Fixture, path: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
  fetch(f.url + path.replace(/^\//, ""), { redirect: "manual", ...init, headers: { "user-agent": chrome, ...init.headers } });

/** The reference §11 vectors (made by the original Go code). */
const goClick = "eJyqVkpMLlGyUkpW0lEqiS8tylGyUsooKSkottLXT61IzC3ISdVLzs9V0lHKLU6Pz0xRslIyMDAwMDQyNjE1M7ewTExKTklNM1DSUSpKLgAZlJhX6YCssRYQAAD__9UAHpk=";
const goOpen = "eJyqVkpMLlGyUspX0lEqiS8tylGyUlLSUcotTo_PTFGyUjIwMDAwNDI2MTUzt7BMTEpOSU0zUNJRKkouAOlKzKt0SK1IzC3ISdVLzs9VqgUEAAD__30wF4E=";
const goInitialOpen = "eJyqVkpMLlGyUspU0lEqiS8tylGyUlLSUcotTo_PTFGyUjIwMDAwNDI2MTUzt7BMTEpOSU0zUNJRKkouAOlKzKt0SK1IzC3ISdVLzs9VqgUEAAD__3uGF3s=";

function trackerSuite(backend: string, storeUrl: () => string, httpServer: HttpServerKind) {
  describe(`tracker over HTTP (${backend}, ${httpServer} server)`, () => {
    let f: Fixture;
    beforeAll(async () => {
      f = await startFixture(storeUrl(), { httpServer });
    });
    afterAll(async () => {
      await f?.close();
    });

    test("GET / is 400 with no event (§3 row: GET /)", async () => {
      const res = await get(f, "/");
      expect(res.status).toBe(400);
      expect(res.headers.get("server")).toBe("msys-http");
      expect(await res.text()).toBe("");
      expect(await f.drainEvents()).toEqual([]);
    });

    for (const [name, token, ip] of [
      ["click without X-Real-IP", goClick, "127.0.0.1"],
      ["click with X-Real-IP", goClick, "1.2.3.4"],
    ] as const) {
      test(`v1 ${name} (Go vector): 302 to the target, empty body, one event`, async () => {
        const res = await get(f, `/${token}`, ip === "1.2.3.4" ? { headers: { "x-real-ip": ip } } : {});
        expect(res.status).toBe(302);
        expect(res.headers.get("location")).toBe("https://example.com");
        expect(res.headers.get("server")).toBe("msys-http");
        expect(await res.text()).toBe("");
        const [event, ...more] = await f.drainEvents();
        expect(more).toEqual([]);
        expect(event).toMatchObject({ type: "click", msg_id: "0000123456789abcdef0", rcpt: "any@example.com", target_link_url: "https://example.com", ip, user_agent: chrome });
        expect(event!.event_id).toMatch(/^\d+$/);
      });
    }

    for (const [action, token] of [["open", goOpen], ["initial_open", goInitialOpen]] as const) {
      for (const realIp of [null, "1.2.3.4"]) {
        test(`v1 ${action} ${realIp ? "with" : "without"} X-Real-IP: 200 with exactly the 44-byte GIF, uncacheable`, async () => {
          const res = await get(f, `/${token}`, realIp ? { headers: { "x-real-ip": realIp } } : {});
          expect(res.status).toBe(200);
          expect(res.headers.get("content-type")).toBe("image/gif");
          expect(res.headers.get("cache-control")).toContain("no-store");
          expect(res.headers.get("cache-control")).toContain("no-cache");
          expect(new Uint8Array(await res.arrayBuffer())).toEqual(TRANSPARENT_GIF);
          const events = await f.drainEvents();
          expect(events).toHaveLength(1);
          expect(events[0]).toMatchObject({ type: action, ip: realIp ?? "127.0.0.1", target_link_url: null });
        });
      }
    }

    test("the GIF is the original's 44 bytes, trailing 00 included", () => {
      expect(Buffer.from(TRANSPARENT_GIF).toString("base64")).toBe("R0lGODlhAQABAIAAAP///////yH5BAEKAAEALAAAAAABAAEAAAICTAEAOwA=");
    });

    test("v2 open, initial_open and click tokens are served and queued", async () => {
      const open = await get(f, `/${f.token({ action: "open" })}`);
      const initial = await get(f, `/${f.token({ action: "initial_open" })}`);
      const click = await get(f, `/${f.token({ action: "click", linkName: "cta" })}`);
      expect([open.status, initial.status, click.status]).toEqual([200, 200, 302]);
      expect(click.headers.get("location")).toBe("https://example.com/?a=1&b=2");
      const events = await f.drainEvents();
      expect(events.map((e) => e.type)).toEqual(["open", "initial_open", "click"]);
      expect(events[2]).toMatchObject({ link_name: "cta", rcpt: "bob@example.com" });
    });

    for (const method of ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"]) {
      test(`${method} is 405 with text/plain and no event`, async () => {
        const res = await fetch(f.url + goOpen, { method, redirect: "manual" });
        expect(res.status).toBe(405);
        expect(res.headers.get("content-type")).toBe("text/plain");
        expect(res.headers.get("allow")).toBe("GET, HEAD");
        expect(await f.drainEvents()).toEqual([]);
      });
    }

    test("TRACE (sent on a raw socket; fetch refuses it) is 405", async () => {
      const port = new URL(f.url).port;
      const reply = await new Promise<string>((resolve, reject) => {
        const sock = connect(Number(port), "127.0.0.1", () => sock.write(`TRACE /${goOpen} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
        let data = "";
        sock.on("data", (d) => (data += d));
        sock.on("end", () => resolve(data));
        sock.on("error", reject);
      });
      expect(reply.split("\r\n")[0]).toContain("405");
    });

    test.each([
      { name: "bad base64", path: "/~~~~~~", status: 400 },
      { name: "not zlib", path: "/not_a_valid_path", status: 400 },
      { name: "truncated JSON", path: `/${v1Token('{"act":"c","t_url":"https://x')}`, status: 400 },
      { name: "unknown action (the original queued it and answered 200)", path: `/${v1Token('{"act":"x","t_url":"","msg_id":"m","rcpt":""}')}`, status: 400 },
      { name: "two segments", path: `/${goOpen}/x`, status: 400 },
      { name: "a trailing slash", path: `/${goOpen}/`, status: 400 },
      { name: "favicon", path: "/favicon.ico", status: 400 },
      { name: "a click to javascript: (the original redirected anywhere)", path: `/${v1Token('{"act":"c","t_url":"javascript:alert(1)","msg_id":"m","rcpt":""}')}`, status: 404 },
      { name: "a click with an empty target", path: `/${v1Token('{"act":"c","t_url":"","msg_id":"m","rcpt":""}')}`, status: 404 },
    ])("refuses $name with $status, no redirect and no event", async ({ path, status }) => {
      const res = await get(f, path);
      expect(res.status).toBe(status);
      expect(res.headers.get("location")).toBeNull();
      expect(res.headers.get("server")).toBe("msys-http");
      expect(await f.drainEvents()).toEqual([]);
    });

    test("a forged v2 click (signature changed) is 404, not a redirect", async () => {
      const token = f.token({ action: "click" });
      const forged = token.slice(0, -3) + (token.endsWith("AAA") ? "BBB" : "AAA");
      const res = await get(f, `/${forged}`);
      expect(res.status).toBe(404);
      expect(res.headers.get("location")).toBeNull();
      expect(await f.drainEvents()).toEqual([]);
    });

    test("a v2 click signed by an unknown key is 404", async () => {
      const { createLinkCodec } = await import("../../src/core/link-codec.ts");
      const { nativePrimitives } = await import("../../src/runtime/codec-primitives.ts");
      const other = createLinkCodec({ primitives: nativePrimitives, keys: [{ kid: "k1", secret: new Uint8Array(32).fill(7) }] });
      const res = await get(f, `/${other.encode({ action: "click", msgId: "m", rcpt: null, targetUrl: "https://evil.example/" })}`);
      expect(res.status).toBe(404);
      expect(await f.drainEvents()).toEqual([]);
    });

    test("a request URL over 8192 characters is 414 with no event; a long token under it is 400", async () => {
      const tooLong = await get(f, `/${"A".repeat(9000)}`);
      expect(tooLong.status).toBe(414);
      const long = await get(f, `/2.k1.${"A".repeat(5000)}.${"B".repeat(22)}`);
      expect(long.status).toBe(400);
      expect(await f.drainEvents()).toEqual([]);
    });

    test("an expired v2 click is 404", async () => {
      const res = await get(f, `/${f.token({ action: "click", expiresAt: Math.floor(Date.now() / 1000) - 10 })}`);
      expect(res.status).toBe(404);
      expect(await f.drainEvents()).toEqual([]);
    });

    test("an open token used as a click gives the pixel, never a redirect", async () => {
      const token = v1Token('{"act":"o","t_url":"https://evil.example/","msg_id":"m","rcpt":""}');
      const res = await get(f, `/${token}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("location")).toBeNull();
      expect(res.headers.get("content-type")).toBe("image/gif");
      const [event] = await f.drainEvents();
      expect(event).toMatchObject({ type: "open", target_link_url: null });
    });

    test("X-Real-IP: banana from a trusted proxy falls back to the socket address (the original answered 400)", async () => {
      const res = await get(f, `/${f.token({ action: "open" })}`, { headers: { "x-real-ip": "banana" } });
      expect(res.status).toBe(200);
      expect((await f.drainEvents())[0]?.ip).toBe("127.0.0.1");
    });

    test("X-Forwarded-For from a trusted proxy: the rightmost untrusted hop", async () => {
      await get(f, `/${f.token({ action: "open" })}`, { headers: { "x-forwarded-for": "6.6.6.6, 203.0.113.9" } });
      expect((await f.drainEvents())[0]?.ip).toBe("203.0.113.9");
    });

    test("HEAD answers like GET without a body and queues no event", async () => {
      const open = await fetch(f.url + f.token({ action: "open" }), { method: "HEAD" });
      expect(open.status).toBe(200);
      expect(open.headers.get("content-type")).toBe("image/gif");
      expect(await open.text()).toBe("");
      const click = await fetch(f.url + f.token({ action: "click" }), { method: "HEAD", redirect: "manual" });
      expect(click.status).toBe(302);
      expect(click.headers.get("location")).toBe("https://example.com/?a=1&b=2");
      expect(await f.drainEvents()).toEqual([]);
    });

    test("/robots.txt disallows everything", async () => {
      const res = await get(f, "/robots.txt");
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("User-agent: *\nDisallow: /\n");
      expect(await f.drainEvents()).toEqual([]);
    });

    test("/healthz is 200 while the store answers", async () => {
      const res = await get(f, "/healthz");
      expect(res.status).toBe(200);
    });

    test("machine verdicts reach the event: Apple MPP, Gmail proxy, fast click, a person", async () => {
      const msgId = `verdicts-${backend}`;
      await get(f, `/${f.token({ action: "open", msgId })}`, { headers: { "user-agent": "Mozilla/5.0" } });
      await get(f, `/${f.token({ action: "open", msgId })}`, { headers: { "user-agent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)" } });
      await get(f, `/${f.token({ action: "click", msgId })}`);
      const events = await f.drainEvents();
      expect(events.map((e) => [e.type, e.machine, e.machine_reason])).toEqual([
        ["open", true, "apple-mpp"],
        ["open", true, "google-proxy"],
        ["click", true, "fast-click"],
      ]);
      expect(events.map((e) => e.first)).toEqual([true, false, true]);
      const human = f.token({ action: "click" });
      await get(f, `/${human}`);
      expect((await f.drainEvents())[0]).toMatchObject({ machine: false, machine_reason: null, first: true });
    });

    test("first flags: 30 concurrent opens and 30 concurrent clicks of one message give one first each", async () => {
      const msgId = `concurrent-${backend}`;
      const open = f.token({ action: "open", msgId });
      const click = f.token({ action: "click", msgId });
      const responses = await Promise.all([...Array(30)].flatMap(() => [get(f, `/${open}`), get(f, `/${click}`)]));
      expect(responses.every((r) => r.status === 200 || r.status === 302)).toBe(true);
      const events = await f.drainEvents();
      expect(events).toHaveLength(60);
      expect(events.filter((e) => e.type === "open" && e.first)).toHaveLength(1);
      expect(events.filter((e) => e.type === "click" && e.first)).toHaveLength(1);
      expect(new Set(events.map((e) => e.event_id)).size).toBe(60);
    });

    test("first flags across two trackers sharing the store: one first open and one first click in all", async () => {
      // A second tracker process in all but name: its own memory, spool and listener, the same store.
      const spool = openSpool({ path: join(f.dir, "second.spool"), maxBytes: 1 << 20, fsync: false });
      const second = createTracker({ store: f.store, codec: f.codec, spool });
      const server = await serve(second.handler, { hostname: "127.0.0.1", port: 0 });
      try {
        const msgId = `two-trackers-${backend}`;
        const open = f.token({ action: "open", msgId });
        const click = f.token({ action: "click", msgId });
        const other = { url: server.url } as Fixture;
        const results = await Promise.all([...Array(20)].flatMap((_, i) => [get(i % 2 ? f : other, `/${open}`), get(i % 2 ? other : f, `/${click}`)]));
        expect(results.every((r) => r.status === 200 || r.status === 302)).toBe(true);
        const events = await f.drainEvents();
        expect(events).toHaveLength(40);
        expect(events.filter((e) => e.type === "open" && e.first)).toHaveLength(1);
        expect(events.filter((e) => e.type === "click" && e.first)).toHaveLength(1);
      } finally {
        await server.close();
        await second.close();
        spool.close();
      }
    });
  });
}

// Both servers: Bun.serve takes the handler's promises; the tracker's own takes its answers through the
// request's responder.
for (const httpServer of ["runtime", "mtatrack"] as const) trackerSuite("sqlite", () => "sqlite", httpServer);
describeWithRedis("redis backend", (redis) => {
  for (const httpServer of ["runtime", "mtatrack"] as const) trackerSuite("redis", () => redis().url, httpServer);
});
if (redisUnavailableReason()) test.skip("Redis suites need redis-server", () => {});

describe("trusted vs untrusted proxies", () => {
  test("with loopback not trusted, X-Real-IP and X-Forwarded-For from 127.0.0.1 are ignored", async () => {
    const f = await startFixture("sqlite", { trustedProxies: createCidrSet(["10.0.0.0/8"]) });
    try {
      await get(f, `/${f.token({ action: "open" })}`, { headers: { "x-real-ip": "1.2.3.4" } });
      await get(f, `/${f.token({ action: "open" })}`, { headers: { "x-forwarded-for": "1.2.3.4" } });
      expect((await f.drainEvents()).map((e) => e.ip)).toEqual(["127.0.0.1", "127.0.0.1"]);
    } finally {
      await f.close();
    }
  });

  test("--ip-truncate 24/48 stores the network part only", async () => {
    const f = await startFixture("sqlite", { ipTruncate: { v4: 24, v6: 48 } });
    try {
      await get(f, `/${f.token({ action: "open" })}`, { headers: { "x-real-ip": "203.0.113.77" } });
      await get(f, `/${f.token({ action: "open" })}`, { headers: { "x-real-ip": "2001:db8:abcd:12::1" } });
      expect((await f.drainEvents()).map((e) => e.ip)).toEqual(["203.0.113.0", "2001:db8:abcd::"]);
    } finally {
      await f.close();
    }
  });

  test.each(["runtime", "mtatrack"] as const)("a custom Server header is on every response, redirects included (%s server)", async (httpServer) => {
    const f = await startFixture("sqlite", { serverHeader: "nginx", httpServer });
    try {
      for (const path of ["/", "/robots.txt", `/${f.token({ action: "open" })}`, `/${f.token({ action: "click" })}`, "/nope"]) {
        expect((await get(f, path)).headers.get("server")).toBe("nginx");
      }
    } finally {
      await f.close();
    }
  });

  test.each(["runtime", "mtatrack"] as const)("each hit is one debug line at --log-level debug, and none at info (%s server)", async (httpServer) => {
    for (const level of ["debug", "info"] as const) {
      const lines: string[] = [];
      const f = await startFixture("sqlite", { httpServer, log: createLogger({ level, stream: { write: (text: string) => lines.push(text) } }) });
      try {
        const token = f.token({ action: "open", msgId: `debug-line-${level}` });
        expect((await get(f, `/${token}`)).status).toBe(200);
        const hitLines = () => lines.filter((l) => l.includes(`msg debug-line-${level}`));
        if (level === "debug") {
          // The line is written once the event is durable, which may be just after the response.
          for (let i = 0; i < 50 && hitLines().length === 0; i++) await Bun.sleep(10);
          expect(hitLines()).toHaveLength(1);
          expect(hitLines()[0]).toContain(`open msg debug-line-debug ip 127.0.0.1 machine no first true: queued`);
        } else {
          await Bun.sleep(50);
          expect(hitLines()).toEqual([]);
        }
      } finally {
        await f.close();
      }
    }
  });

  test("v1 tokens are refused with 404 unless --accept-v1", async () => {
    const f = await startFixture("sqlite", { acceptV1: false });
    try {
      const res = await get(f, `/${goClick}`);
      expect(res.status).toBe(404);
      expect(res.headers.get("location")).toBeNull();
      expect(await f.drainEvents()).toEqual([]);
    } finally {
      await f.close();
    }
  });
});

describe("metrics", () => {
  test("/metrics counts a known sequence of requests", async () => {
    const f = await startFixture("sqlite");
    try {
      await get(f, `/${f.token({ action: "open" })}`);
      await get(f, `/${f.token({ action: "open" })}`, { headers: { "user-agent": "Mozilla/5.0" } });
      await get(f, `/${f.token({ action: "click" })}`);
      await get(f, "/~~~~~~");
      await get(f, "/robots.txt");
      await fetch(f.url + f.token({ action: "open" }), { method: "HEAD" });
      await fetch(f.url, { method: "POST" });
      const text = await (await get(f, "/metrics")).text();
      const value = (line: string) => {
        const found = text.split("\n").find((l) => l.startsWith(`${line} `));
        return found ? Number(found.slice(line.length + 1)) : undefined;
      };
      expect(value('mtatrack_tracker_requests_total{action="open",status="200"}')).toBe(3);
      expect(value('mtatrack_tracker_requests_total{action="click",status="302"}')).toBe(1);
      expect(value('mtatrack_tracker_requests_total{action="invalid",status="400"}')).toBe(1);
      expect(value('mtatrack_tracker_requests_total{action="robots",status="200"}')).toBe(1);
      expect(value('mtatrack_tracker_requests_total{action="other",status="405"}')).toBe(1);
      expect(value('mtatrack_tracker_events_total{outcome="queued"}')).toBe(3);
      expect(value('mtatrack_tracker_events_total{outcome="spooled"}')).toBe(0);
      expect(value('mtatrack_tracker_machine_hits_total{reason="apple-mpp"}')).toBe(1);
      expect(value('mtatrack_tracker_machine_hits_total{reason="head-request"}')).toBe(1);
      expect(value("mtatrack_tracker_spool_records")).toBe(0);
      expect(value('mtatrack_tracker_request_duration_seconds_count{action="open"}')).toBe(3);
      expect(text).toContain('mtatrack_tracker_request_duration_seconds_bucket{le="0.01",action="open"}');
    } finally {
      await f.close();
    }
  });

  test("the metrics handler for a separate listener answers /metrics and /healthz only", async () => {
    const f = await startFixture("sqlite", { serveMetricsOnMain: false });
    try {
      expect((await get(f, "/metrics")).status).toBe(400);
      const res = await f.tracker.metricsHandler(new Request("http://x/metrics"), { remoteAddress: "127.0.0.1" });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("mtatrack_tracker_requests_total");
      expect((await f.tracker.metricsHandler(new Request("http://x/abc"), { remoteAddress: "127.0.0.1" })).status).toBe(404);
    } finally {
      await f.close();
    }
  });
});
