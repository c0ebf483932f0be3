import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSpool } from "../../src/tracker/spool.ts";

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "mtatrack-spool-"));
  path = join(dir, "tracker.spool");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const bodies = (from: number, n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ event_id: String(from + i), ua: "é ✓" }));

describe("openSpool()", () => {
  test("append() then peek() returns the records in order, and commit() moves past them", () => {
    const spool = openSpool({ path, maxBytes: 1 << 20 });
    expect(spool.append(bodies(0, 5))).toBe(5);
    expect(spool.append(bodies(5, 3))).toBe(3);
    expect(spool.stats().records).toBe(8);
    const first = spool.peek(4);
    expect(first.bodies).toEqual(bodies(0, 4));
    spool.commit(first.end);
    expect(spool.stats().records).toBe(4);
    const rest = spool.peek(100);
    expect(rest.bodies).toEqual(bodies(4, 4));
    spool.commit(rest.end);
    expect(spool.stats()).toEqual({ records: 0, bytes: 0 });
    expect(statSync(path).size).toBe(0); // compacted
    spool.close();
  });

  test("records survive a restart, and records committed before it are not seen again", () => {
    const a = openSpool({ path, maxBytes: 1 << 20 });
    a.append(bodies(0, 10));
    a.commit(a.peek(3).end);
    a.close();
    const b = openSpool({ path, maxBytes: 1 << 20 });
    expect(b.recoveredFromCrash).toBe(true);
    expect(b.peek(100).bodies).toEqual(bodies(3, 7));
    b.close();
  });

  test("exactly once per record: a crash after a push and before commit replays only that batch", () => {
    // The run that dies: it peeked records 0-3, pushed them (the store has them), and died before commit.
    const dying = openSpool({ path, maxBytes: 1 << 20 });
    dying.append(bodies(0, 10));
    const pushed: string[] = [];
    const done = dying.peek(2);
    pushed.push(...done.bodies);
    dying.commit(done.end);
    const inDoubt = dying.peek(2);
    pushed.push(...inDoubt.bodies); // accepted by the store …
    // … and no commit: simulated SIGKILL (no close(), the lock file stays behind).
    const next = openSpool({ path, maxBytes: 1 << 20 });
    for (let batch = next.peek(3); batch.bodies.length > 0; batch = next.peek(3)) {
      pushed.push(...batch.bodies);
      next.commit(batch.end);
    }
    const ids = pushed.map((b) => JSON.parse(b).event_id as string);
    // Every record arrives; only the in-doubt batch twice, with the same event ids.
    expect(new Set(ids)).toEqual(new Set(bodies(0, 10).map((b) => JSON.parse(b).event_id)));
    expect(ids.length).toBe(10 + inDoubt.bodies.length);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual(inDoubt.bodies.map((b) => JSON.parse(b).event_id));
    next.close();
  });

  test("a torn last line (crash mid-append) is cut off at open", () => {
    const a = openSpool({ path, maxBytes: 1 << 20 });
    a.append(bodies(0, 2));
    a.close();
    appendFileSync(path, '{"event_id":"trunc');
    const b = openSpool({ path, maxBytes: 1 << 20 });
    expect(b.peek(10).bodies).toEqual(bodies(0, 2));
    expect(readFileSync(path, "utf8").endsWith("\n")).toBe(true);
    b.close();
  });

  test("a crash between compaction and the cursor reset replays nothing", () => {
    const a = openSpool({ path, maxBytes: 1 << 20 });
    a.append(bodies(0, 3));
    a.close();
    writeFileSync(`${path}.cursor`, "999"); // cursor beyond the (truncated) file
    const b = openSpool({ path, maxBytes: 1 << 20 });
    expect(b.stats().records).toBe(3); // file still there: cursor > size means "compacted", so start over at 0 …
    b.close();
    writeFileSync(path, "");
    const c = openSpool({ path, maxBytes: 1 << 20 });
    expect(c.stats()).toEqual({ records: 0, bytes: 0 }); // … and an empty file with a stale cursor is empty
    c.close();
  });

  test("append() refuses a batch that would pass the cap, and accepts again once drained", () => {
    const spool = openSpool({ path, maxBytes: 200 });
    expect(spool.append(bodies(0, 3))).toBe(3);
    expect(spool.append(bodies(3, 10))).toBe(0);
    expect(spool.stats().records).toBe(3);
    spool.commit(spool.peek(10).end);
    expect(spool.append(bodies(3, 3))).toBe(3);
    spool.close();
  });

  test("a second live process cannot open the same spool", () => {
    const spool = openSpool({ path, maxBytes: 1 << 20 });
    writeFileSync(`${path}.lock`, "1"); // pid 1 is always alive
    expect(() => openSpool({ path, maxBytes: 1 << 20 })).toThrow(/process 1 holds it/);
    spool.close();
  });

  test("a stale lock from a dead process is taken over", () => {
    writeFileSync(`${path}.lock`, "999999");
    const spool = openSpool({ path, maxBytes: 1 << 20, isAlive: () => false });
    expect(spool.append(bodies(0, 1))).toBe(1);
    spool.close();
  });

  test("peek() reads records longer than its read chunk", () => {
    const spool = openSpool({ path, maxBytes: 4 << 20 });
    const big = [JSON.stringify({ event_id: "1", ua: "x".repeat(300_000) }), JSON.stringify({ event_id: "2" })];
    spool.append(big);
    expect(spool.peek(10).bodies).toEqual(big);
    spool.close();
  });
});
