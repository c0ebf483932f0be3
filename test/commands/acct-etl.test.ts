/** @module `mtatrack acct-etl` as PowerMTA runs it: a real process fed through a stdin pipe, on SQLite and on Redis. */
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { openStore } from "../../src/stores/open-store.ts";
import { describeWithRedis, startRedis } from "../helpers/redis-server.ts";

const MAIN = join(import.meta.dir, "../../src/main.ts");
const HEADER = "type,rcpt,header_x-sp-message-id,header_x-sp-subaccount-id\n";
const HEADERS_JSON = '{"header_x-sp-message-id":2,"header_x-sp-subaccount-id":3,"rcpt":1,"type":0}';
const EXAMPLE_ROW = "d,test+00102830@not-orange.fr.bouncy-sink.trymsys.net,0000123456789abcdef0,0\n";
const EXAMPLE_VALUE = '{"header_x-sp-subaccount-id":"0","rcpt":"test+00102830@not-orange.fr.bouncy-sink.trymsys.net"}';

type Proc = ReturnType<typeof spawnEtl>;

function spawnEtl(storeUrl: string, args: string[] = []) {
  return Bun.spawn([process.execPath, MAIN, "acct-etl", "--store", storeUrl, ...args], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, MTATRACK_LOG_LEVEL: "info", NO_COLOR: "1" },
  });
}

interface Finished {
  code: number;
  stdout: string;
  stderr: string;
  summary: { rows: number; headers: number; stored: number; skipped: Record<string, number> };
}

async function finish(proc: Proc): Promise<Finished> {
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, stdout, stderr, summary: parseSummary(stderr) };
}

/** Reads the exit summary: `Summary: rows 3, headers 1, stored 1, skipped 1 (not-delivery 1)`. */
function parseSummary(stderr: string): Finished["summary"] {
  const m = /Summary: rows (\d+), headers (\d+), stored (\d+), skipped \d+(?: \(([^)]*)\))?/.exec(stderr);
  if (!m) return { rows: -1, headers: -1, stored: -1, skipped: {} };
  const skipped: Record<string, number> = {};
  for (const part of m[4]?.split(", ") ?? []) {
    const [reason, n] = part.split(" ");
    skipped[reason!] = Number(n);
  }
  return { rows: Number(m[1]), headers: Number(m[2]), stored: Number(m[3]), skipped };
}

async function runWith(storeUrl: string, input: string, args: string[] = []): Promise<Finished> {
  const proc = spawnEtl(storeUrl, args);
  proc.stdin.write(input);
  await proc.stdin.end();
  return await finish(proc);
}

/** One backend as the tests see it: a fresh store per test, read back through the real adapter or client. */
interface Backend {
  url(): string;
  reset(): Promise<void>;
  get(keys: string[]): Promise<(string | null)[]>;
  seed(entries: [string, string][]): Promise<void>;
}

const msgKey = (i: number) => `msgID_0000${i.toString(16).padStart(16, "0")}`;
const row = (i: number) => `d,rcpt${i}@example.com,0000${i.toString(16).padStart(16, "0")},${i % 7}\n`;
function rows(from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i++) s += row(i);
  return s;
}

async function getAll(b: Backend, keys: string[]): Promise<(string | null)[]> {
  const out: (string | null)[] = [];
  for (let i = 0; i < keys.length; i += 5000) out.push(...(await b.get(keys.slice(i, i + 5000))));
  return out;
}

const errorCases: { name: string; input: string; stored?: string | null; skipped: Record<string, number>; keys: Record<string, string | null> }[] = [
  { name: "an empty input", input: "\n", skipped: {}, keys: {} },
  { name: "type\\nd: fewer than 2 fields", input: "type\nd\n", skipped: { "too-few-fields": 2 }, keys: { acct_headers: null } },
  {
    name: "a header without header_x-sp-message-id",
    input: "type,rcpt\nd,a@b\n",
    skipped: { "bad-header": 1, "no-header": 1 },
    keys: { acct_headers: null },
  },
  {
    name: "record types other than d, between good rows",
    input: `${HEADER}x,a,b,c\nb,a,b,c\n${EXAMPLE_ROW}`,
    skipped: { "not-delivery": 2 },
    keys: { msgID_0000123456789abcdef0: EXAMPLE_VALUE },
  },
  {
    name: "a row with fewer columns than the header",
    input: `${HEADER}d,r,id1\n${EXAMPLE_ROW}`,
    skipped: { "column-count": 1 },
    keys: { msgID_id1: null, msgID_0000123456789abcdef0: EXAMPLE_VALUE },
  },
  { name: "an empty message id", input: `${HEADER}d,r,,0\n`, skipped: { "empty-message-id": 1 }, keys: { msgID_: null } },
  {
    name: "a malformed quote",
    input: `${HEADER}d,r"x,id1,0\nd,"r",id2,"0"junk\n${EXAMPLE_ROW}`,
    skipped: { malformed: 2 },
    keys: { msgID_id1: null, msgID_id2: null, msgID_0000123456789abcdef0: EXAMPLE_VALUE },
  },
  { name: "a data row before any header, none stored", input: EXAMPLE_ROW, skipped: { "no-header": 1 }, keys: { msgID_0000123456789abcdef0: null } },
  {
    name: "a data row before any header uses the stored acct_headers",
    input: EXAMPLE_ROW,
    stored: HEADERS_JSON,
    skipped: {},
    keys: { msgID_0000123456789abcdef0: EXAMPLE_VALUE },
  },
  {
    name: "a stored acct_headers without the message id",
    input: EXAMPLE_ROW,
    stored: '{"bananas":1,"type":0}',
    skipped: { "no-header": 1 },
    keys: { msgID_0000123456789abcdef0: null },
  },
  { name: "a stored acct_headers that is not JSON", input: EXAMPLE_ROW, stored: "{gooseberry}", skipped: { "no-header": 1 }, keys: {} },
  {
    name: "a stored acct_headers wider than the row",
    input: "d,r,id1\n",
    stored: HEADERS_JSON,
    skipped: { "column-count": 1 },
    keys: { msgID_id1: null },
  },
];

function defineCases(backend: () => Backend) {
  beforeEach(async () => {
    await backend().reset();
  });

  test("acct-etl stores the original's example.csv in the original's layout, stdout empty", async () => {
    const run = await runWith(backend().url(), HEADER + EXAMPLE_ROW);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("");
    expect(run.summary).toEqual({ rows: 2, headers: 1, stored: 1, skipped: {} });
    expect(await backend().get(["acct_headers", "msgID_0000123456789abcdef0"])).toEqual([HEADERS_JSON, EXAMPLE_VALUE]);
  });

  test.each(errorCases)("acct-etl skips and counts, exit 0: $name", async ({ input, stored, skipped, keys }) => {
    if (stored) await backend().seed([["acct_headers", stored]]);
    const run = await runWith(backend().url(), input);
    expect(run.code).toBe(0);
    expect(run.summary.skipped).toEqual(skipped);
    for (const reason of Object.keys(skipped)) expect(run.stderr).toContain(`skipped (${reason})`);
    const names = Object.keys(keys);
    expect(await backend().get(names)).toEqual(names.map((k) => keys[k]!));
  });

  test("acct-etl keeps commas, quotes and newlines inside quoted fields, CRLF or LF", async () => {
    const input = `${HEADER.replace("\n", "\r\n")}d,"Fred, ""Jr"" <f@x.com>",id1,"1\r\n2"\r\nd,"a,b@c",id2,3\n`;
    const run = await runWith(backend().url(), input);
    expect(run.summary).toEqual({ rows: 3, headers: 1, stored: 2, skipped: {} });
    expect(await backend().get(["msgID_id1", "msgID_id2"])).toEqual([
      '{"header_x-sp-subaccount-id":"1\\n2","rcpt":"Fred, \\"Jr\\" \\u003cf@x.com\\u003e"}',
      '{"header_x-sp-subaccount-id":"3","rcpt":"a,b@c"}',
    ]);
  });

  test("acct-etl follows a header re-sent mid-stream with its columns reordered, and stores the new header", async () => {
    const input = `${HEADER}d,r1,id1,1\ntype,header_x-sp-subaccount-id,header_x-sp-message-id,rcpt\nd,2,id2,r2\n`;
    const run = await runWith(backend().url(), input);
    expect(run.summary).toEqual({ rows: 4, headers: 2, stored: 2, skipped: {} });
    expect(await backend().get(["msgID_id1", "msgID_id2", "acct_headers"])).toEqual([
      '{"header_x-sp-subaccount-id":"1","rcpt":"r1"}',
      '{"header_x-sp-subaccount-id":"2","rcpt":"r2"}',
      '{"header_x-sp-message-id":2,"header_x-sp-subaccount-id":1,"rcpt":3,"type":0}',
    ]);
  });

  test("acct-etl --field records extra columns (repeated, comma-separated, Go spelling)", async () => {
    const input = "type,rcpt,header_x-sp-message-id,header_x-job,dsnStatus,header_x-campaign\nd,r,id1,job7,2.0.0,spring\n";
    const run = await runWith(backend().url(), input, ["--field", "header_x-job", "-field=header_x-campaign,header_x-absent"]);
    expect(run.summary.stored).toBe(1);
    expect(await backend().get(["msgID_id1", "acct_headers"])).toEqual([
      '{"header_x-campaign":"spring","header_x-job":"job7","rcpt":"r"}',
      '{"header_x-campaign":5,"header_x-job":3,"header_x-sp-message-id":2,"rcpt":1,"type":0}',
    ]);
    expect(run.stderr).toContain("this header has no header_x-sp-subaccount-id, header_x-absent");
  });

  test("acct-etl -infile reads several files in order (Go spelling), a header in the first only", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mtatrack-etl-in-"));
    try {
      writeFileSync(join(dir, "a.csv"), HEADER + rows(0, 3));
      writeFileSync(join(dir, "b.csv"), rows(3, 5));
      const proc = spawnEtl(backend().url(), ["-infile", join(dir, "a.csv"), "--infile", join(dir, "b.csv")]);
      proc.stdin.end();
      const run = await finish(proc);
      expect(run.code).toBe(0);
      expect(run.summary).toEqual({ rows: 6, headers: 1, stored: 5, skipped: {} });
      expect((await backend().get([msgKey(0), msgKey(4)])).every((v) => v !== null)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("acct-etl -infile stops on SIGTERM mid-file, storing every row it read", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mtatrack-etl-in-"));
    try {
      const total = 400_000;
      writeFileSync(join(dir, "big.csv"), HEADER + rows(0, total));
      const proc = spawnEtl(backend().url(), ["--infile", join(dir, "big.csv")]);
      proc.stdin.end();
      const deadline = Date.now() + 20_000;
      while ((await backend().get([msgKey(0)]))[0] === null && Date.now() < deadline) await Bun.sleep(20);
      proc.kill("SIGTERM");
      const run = await finish(proc);
      expect(run.code).toBe(0);
      const { rows: read, headers, stored, skipped } = run.summary;
      expect(stored).toBeLessThan(total);
      expect(stored + headers + (skipped.incomplete ?? 0)).toBe(read);
      const values = await getAll(backend(), Array.from({ length: stored + 50 }, (_, i) => msgKey(i)));
      expect(values.slice(0, stored).every((v) => v !== null)).toBe(true);
      expect(values.slice(stored).every((v) => v === null)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  test("acct-etl -logfile appends the log to a file and leaves stdout and stderr empty", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mtatrack-etl-log-"));
    try {
      const logfile = join(dir, "acct-etl.log");
      const run = await runWith(backend().url(), `${HEADER}b,x,y,z\n${EXAMPLE_ROW}`, ["-logfile", logfile]);
      expect(run.code).toBe(0);
      expect(run.stdout).toBe("");
      expect(run.stderr).toBe("");
      const log = await Bun.file(logfile).text();
      expect(log).toContain("stdin:2: skipped (not-delivery)");
      expect(log).toContain("Summary: rows 3, headers 1, stored 1, skipped 1 (not-delivery 1)");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each([
    { what: "--infile with a missing file (before touching the store)", args: ["--infile", "/nonexistent/acct.csv"],
      says: /^mtatrack: Cannot read --infile "\/nonexistent\/acct.csv": ENOENT[^\n]*$/ },
    { what: "-logfile that cannot be opened", args: ["-logfile", "/nonexistent/acct-etl.log"],
      says: /^mtatrack: Cannot open --logfile "\/nonexistent\/acct-etl.log": ENOENT[^\n]*$/ },
  ])("acct-etl $what says so in one line and exits 1", async ({ args, says }) => {
    const proc = spawnEtl(backend().url(), [...args]);
    proc.stdin.end();
    const run = await finish(proc);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toMatch(says);
  });

  test("acct-etl lands a row from a quiet pipe without waiting for more input or EOF", async () => {
    const proc = spawnEtl(backend().url());
    try {
      proc.stdin.write(HEADER + row(1));
      await proc.stdin.flush();
      const deadline = Date.now() + 10_000;
      let value: string | null = null;
      while (value === null && Date.now() < deadline) {
        await Bun.sleep(50);
        [value] = await backend().get([msgKey(1)]);
      }
      expect(value).toBe('{"header_x-sp-subaccount-id":"1","rcpt":"rcpt1@example.com"}');
      expect(proc.exitCode).toBeNull(); // still running: the pipe is open
    } finally {
      await proc.stdin.end();
      await proc.exited;
    }
  });

  test("acct-etl streams 1,000,000 rows through the pipe", async () => {
    const proc = spawnEtl(backend().url());
    const total = 1_000_000;
    proc.stdin.write(HEADER);
    for (let i = 0; i < total; i += 10_000) {
      proc.stdin.write(rows(i, i + 10_000));
      await proc.stdin.flush();
    }
    await proc.stdin.end();
    const run = await finish(proc);
    expect(run.code).toBe(0);
    expect(run.summary).toEqual({ rows: total + 1, headers: 1, stored: total, skipped: {} });
    const sample = [0, 1, 499_999, 777_777, total - 1];
    expect(await backend().get(sample.map(msgKey))).toEqual(sample.map((i) => `{"header_x-sp-subaccount-id":"${i % 7}","rcpt":"rcpt${i}@example.com"}`));
  }, 120_000);

  test("acct-etl on SIGTERM mid-stream stores every row it read, exits 0, and loses none it confirmed", async () => {
    const proc = spawnEtl(backend().url());
    proc.stdin.write(HEADER + rows(0, 20_000));
    await proc.stdin.flush();
    // Acknowledged: visible in the store while the pipe is still open.
    const deadline = Date.now() + 20_000;
    while ((await backend().get([msgKey(19_999)]))[0] === null && Date.now() < deadline) await Bun.sleep(50);
    expect((await backend().get([msgKey(19_999)]))[0]).not.toBeNull();
    // Keep writing while the signal arrives, so it lands in the middle of the stream (and maybe of a row).
    let next = 20_000;
    let writing = true;
    const writer = (async () => {
      try {
        while (writing && next < 200_000) {
          // Awaited: when the pipe's buffer is full, write() returns a promise, which rejects with EPIPE once
          // the process has gone; left alone, that rejection fails the run as an unhandled error.
          await proc.stdin.write(rows(next, next + 500));
          next += 500;
          await proc.stdin.flush();
        }
      } catch {
        // the process stopped reading: a broken pipe is expected here
      }
    })();
    await Bun.sleep(150);
    proc.kill("SIGTERM");
    const run = await finish(proc);
    writing = false;
    await writer;
    expect(run.code).toBe(0);
    expect(run.stderr).toContain("SIGTERM: storing what was read");
    const { rows: read, headers, stored, skipped } = run.summary;
    // Every row read is stored, except at most one cut off by the signal.
    expect(Object.keys(skipped).filter((r) => r !== "incomplete")).toEqual([]);
    expect(skipped.incomplete ?? 0).toBeLessThanOrEqual(1);
    expect(stored + headers + (skipped.incomplete ?? 0)).toBe(read);
    expect(stored).toBeGreaterThanOrEqual(20_000);
    // Exactly the first `stored` rows are in the store, in order, none beyond.
    const values = await getAll(backend(), Array.from({ length: stored + 50 }, (_, i) => msgKey(i)));
    expect(values.slice(0, stored).every((v) => v !== null)).toBe(true);
    expect(values.slice(stored).every((v) => v === null)).toBe(true);
  }, 60_000);
}

describe("acct-etl on sqlite", () => {
  const dir = mkdtempSync(join(tmpdir(), "mtatrack-etl-"));
  let n = 0;
  let url = "";
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  defineCases(() => ({
    url: () => url,
    async reset() {
      url = `sqlite:${join(dir, `store-${++n}.db`)}`;
    },
    async get(keys) {
      const store = await openStore(url);
      try {
        return await store.kv.getMany(keys);
      } finally {
        await store.close();
      }
    },
    async seed(entries) {
      const store = await openStore(url);
      try {
        await store.kv.setMany(entries, { ttlSeconds: 0 });
      } finally {
        await store.close();
      }
    },
  }));
});

// `script` (util-linux, in Debian's essential bsdutils; .ci/run installs it if missing) gives the child a
// terminal for stderr; without it there is no way to show the line is drawn on a TTY. Under CI=true a
// missing `script` is a failing test, not a skip.
const noScript = Bun.which("script") ? null : "script(1) is not installed (apt-get install bsdutils)";
if (noScript && process.env.CI === "true") test("the progress-line tests can run (required under CI=true)", () => expect(noScript).toBeNull());
describe.skipIf(noScript !== null)("acct-etl --infile progress line", () => {
  const dir = mkdtempSync(join(tmpdir(), "mtatrack-etl-tty-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // Long enough (300,000 rows, about a second) for the first redraw, due after 250 ms.
  const file = join(dir, "big.csv");
  writeFileSync(file, HEADER + rows(0, 300_000));
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

  test("acct-etl --infile draws a progress line when stderr is a terminal", async () => {
    const cmd = [process.execPath, MAIN, "acct-etl", "--store", `sqlite:${join(dir, "tty.db")}`, "--infile", file].map(quote).join(" ");
    // util-linux script(1) runs the command on a pseudo-terminal and copies what it prints to stdout.
    const proc = Bun.spawn(["script", "-qefc", cmd, "/dev/null"], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
    const [code, out] = await Promise.all([proc.exited, new Response(proc.stdout).text()]);
    expect(code).toBe(0);
    expect(out).toMatch(/\r\x1b\[K[^\r\n]*big\.csv: \d+% \d+ rows, \d+ rows\/s/);
    expect(out).toContain("Summary: rows 300001, headers 1, stored 300000, skipped 0");
  }, 60_000);

  test("acct-etl --infile draws no progress line into a pipe", async () => {
    const proc = spawnEtl(`sqlite:${join(dir, "pipe.db")}`, ["--infile", file]);
    proc.stdin.end();
    const run = await finish(proc);
    expect(run.code).toBe(0);
    expect(run.summary.stored).toBe(300_000);
    expect(run.stderr).not.toContain("\x1b[K");
    expect(run.stderr).not.toContain("\r");
  }, 60_000);
});

describeWithRedis("acct-etl on redis", (redis) => {
  let client: Redis | null = null;
  const raw = () => (client ??= new Redis(`${redis().url}/7`));
  afterAll(() => client?.disconnect());
  defineCases(() => ({
    url: () => `${redis().url}/7`,
    reset: async () => void (await raw().flushdb()),
    get: async (keys) => (keys.length ? await raw().mget(...keys) : []),
    seed: async (entries) => void (await raw().mset(...entries.flat())),
  }));

  test("acct-etl writes what the original's feeder reads: plain GET, EX 864000, acct_headers without TTL (read with ioredis)", async () => {
    await raw().flushdb();
    const run = await runWith(`${redis().url}/7`, HEADER + EXAMPLE_ROW);
    expect(run.code).toBe(0);
    expect(await raw().get("msgID_0000123456789abcdef0")).toBe(EXAMPLE_VALUE);
    expect(await raw().ttl("msgID_0000123456789abcdef0")).toBeGreaterThan(863_990);
    expect(await raw().get("acct_headers")).toBe(HEADERS_JSON);
    expect(await raw().ttl("acct_headers")).toBe(-1);
    expect((await raw().keys("*")).sort()).toEqual(["acct_headers", "msgID_0000123456789abcdef0"]);
  });

  test("acct-etl reads an acct_headers the original wrote, and --ttl sets the expiry", async () => {
    await raw().flushdb();
    await raw().set("acct_headers", HEADERS_JSON); // as the Go acct_etl leaves it
    const run = await runWith(`${redis().url}/7`, EXAMPLE_ROW, ["--ttl", "1h"]);
    expect(run.summary.stored).toBe(1);
    expect(await raw().get("msgID_0000123456789abcdef0")).toBe(EXAMPLE_VALUE);
    const ttl = await raw().ttl("msgID_0000123456789abcdef0");
    expect(ttl).toBeGreaterThan(3590);
    expect(ttl).toBeLessThanOrEqual(3600);
  });
});

describeWithRedis("acct-etl when Redis goes away", () => {
  test("acct-etl rides out a short outage and stores every row", async () => {
    const server = await startRedis();
    const raw = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: null });
    try {
      const proc = spawnEtl(server.url, ["--store-retry", "20s"]);
      proc.stdin.write(HEADER + rows(0, 100));
      await proc.stdin.flush();
      await Bun.sleep(700);
      await server.kill();
      proc.stdin.write(rows(100, 200));
      await proc.stdin.flush();
      await Bun.sleep(1000);
      await server.restart(); // an empty server: what was written before the crash is gone with it
      await proc.stdin.end();
      const run = await finish(proc);
      expect(run.code).toBe(0);
      expect(run.summary.stored).toBe(200);
      expect(run.stderr).toContain("Store write failed, retrying");
      await raw.connect();
      expect((await raw.mget(...Array.from({ length: 100 }, (_, i) => msgKey(100 + i)))).every((v) => v !== null)).toBe(true);
    } finally {
      raw.disconnect();
      await server.stop();
    }
  }, 60_000);

  test("acct-etl starts while Redis is down and stores every row once it comes up within --store-retry", async () => {
    const server = await startRedis();
    const raw = new Redis(server.url, { lazyConnect: true });
    try {
      await server.kill();
      const proc = spawnEtl(server.url, ["--store-retry", "20s"]);
      proc.stdin.write(HEADER + rows(0, 50));
      await proc.stdin.flush();
      await Bun.sleep(1000);
      await server.restart();
      await proc.stdin.end();
      const run = await finish(proc);
      expect(run.code).toBe(0);
      expect(run.summary.stored).toBe(50);
      await raw.connect();
      expect(await raw.get("acct_headers")).toBe(HEADERS_JSON);
      expect((await raw.mget(...Array.from({ length: 50 }, (_, i) => msgKey(i)))).every((v) => v !== null)).toBe(true);
    } finally {
      raw.disconnect();
      await server.stop();
    }
  }, 60_000);

  test("acct-etl exits non-zero once the store stays unreachable past --store-retry", async () => {
    const server = await startRedis();
    try {
      const proc = spawnEtl(server.url, ["--store-retry", "2s"]);
      proc.stdin.write(HEADER + rows(0, 10));
      await proc.stdin.flush();
      await Bun.sleep(700);
      await server.kill();
      proc.stdin.write(rows(10, 20));
      await proc.stdin.flush();
      const started = Date.now();
      const run = await finish(proc);
      expect(run.code).toBe(1);
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(run.stderr).toContain("Cannot write the store");
      expect(run.summary.stored).toBe(10);
    } finally {
      await server.stop();
    }
  }, 60_000);
});
