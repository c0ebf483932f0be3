/**
 * The nginx site of docs/tracker.md, as written there (only ports, certificate paths and temp paths
 * changed), in front of a real tracker: TLS, the Server header passed through, X-Real-IP believed and a
 * client's own X-Forwarded-For not, /metrics kept off the public site.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TRANSPARENT_GIF } from "../../src/tracker/handler.ts";
import { freePort } from "../helpers/redis-server.ts";
import { startFixture, type Fixture } from "../tracker/_fixture.ts";

const root = join(import.meta.dir, "../..");
// nginx and openssl are system packages, not npm ones: skipped where absent; .ci/run installs both.
const available = Boolean(Bun.which("nginx") && Bun.which("openssl"));

describe.skipIf(!available)("docs/tracker.md nginx site in front of the tracker", () => {
  let dir: string;
  let f: Fixture;
  let nginx: ReturnType<typeof Bun.spawn>;
  let base: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mtatrack-nginx-"));
    f = await startFixture("sqlite");
    const [https, http] = [await freePort(), await freePort()];
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=track.example.com"]);
    const doc = readFileSync(join(root, "docs/tracker.md"), "utf8");
    const site = doc.slice(doc.indexOf("```nginx") + 8, doc.indexOf("```", doc.indexOf("```nginx") + 8))
      .replaceAll("/etc/letsencrypt/live/track.example.com/fullchain.pem", cert)
      .replaceAll("/etc/letsencrypt/live/track.example.com/privkey.pem", key)
      .replace("server 127.0.0.1:8888;", `server 127.0.0.1:${new URL(f.url).port};`)
      .replaceAll(/^\s*listen \[::\].*$/gm, "")
      .replace(/listen 443 ssl http2;/, `listen 127.0.0.1:${https} ssl http2;`)
      .replace(/listen 80;/, `listen 127.0.0.1:${http};`);
    const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `${t}_temp_path ${join(dir, t)};`).join("\n  ");
    writeFileSync(join(dir, "nginx.conf"), `daemon off;\nmaster_process off;\npid ${join(dir, "nginx.pid")};\nerror_log ${join(dir, "error.log")} warn;\nevents {}\nhttp {\n  ${temp}\n${site}\n}\n`);
    nginx = Bun.spawn(["nginx", "-p", dir, "-c", join(dir, "nginx.conf")], { stderr: "pipe" });
    base = `https://127.0.0.1:${https}/`;
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await fetch(base + "robots.txt", { tls: { rejectUnauthorized: false } } as RequestInit);
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`nginx did not start: ${readFileSync(join(dir, "error.log"), "utf8")}`, { cause: err });
        await Bun.sleep(50);
      }
    }
  });
  afterAll(async () => {
    nginx?.kill("SIGTERM");
    await nginx?.exited;
    await f?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(base + path, { redirect: "manual", headers: { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", ...headers }, tls: { rejectUnauthorized: false } } as RequestInit);

  test("a pixel through nginx: the GIF, and the tracker's Server header", async () => {
    const res = await get(f.token({ action: "open" }));
    expect(res.status).toBe(200);
    expect(res.headers.get("server")).toBe("msys-http");
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(TRANSPARENT_GIF);
    expect((await f.drainEvents())[0]?.ip).toBe("127.0.0.1");
  });

  test("a click through nginx: the 302 and its Location", async () => {
    const res = await get(f.token({ action: "click" }));
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("https://example.com/?a=1&b=2");
    await f.drainEvents();
  });

  test("a client's own X-Forwarded-For and X-Real-IP do not pass: nginx's X-Real-IP wins", async () => {
    await get(f.token({ action: "open" }), { "x-forwarded-for": "6.6.6.6", "x-real-ip": "6.6.6.6" });
    expect((await f.drainEvents())[0]?.ip).toBe("127.0.0.1");
  });

  test("/metrics is not served on the public site", async () => {
    expect((await get("metrics")).status).toBe(404);
  });
});
