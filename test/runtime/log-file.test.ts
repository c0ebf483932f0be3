/** @module The `--logfile` writer over real files: appending, and following the path through logrotate's moves. */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openLogFile } from "../../src/runtime/log-file.ts";
import type { LineWriter } from "../../src/runtime/stderr.ts";

const dir = mkdtempSync(join(tmpdir(), "mtatrack-logfile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A fresh path, a clock the test moves by hand, and a fallback that collects what it is given. */
function setup(checkEveryMs = 1000) {
  const sub = join(dir, `case-${++n}`);
  mkdirSync(sub);
  const path = join(sub, "tracker.log");
  const clock = { t: 1_000_000 };
  const fallback: LineWriter & { text: string } = {
    text: "",
    write(t: string) {
      this.text += t;
      return true;
    },
  };
  return { sub, path, clock, fallback, open: () => openLogFile(path, { checkEveryMs, now: () => clock.t, fallback }) };
}

const read = (path: string) => readFileSync(path, "utf8");

describe("openLogFile()", () => {
  test("appends to what the file already holds, creating it when missing", () => {
    const { path, open } = setup();
    writeFileSync(path, "from the last run\n");
    const log = open();
    log.write("one ℹ\n");
    log.write("two\n");
    log.close();
    expect(read(path)).toBe("from the last run\none ℹ\ntwo\n");

    const { path: fresh, open: openFresh } = setup();
    const log2 = openFresh();
    log2.write("first line\n");
    log2.close();
    expect(read(fresh)).toBe("first line\n");
  });

  test("after logrotate renames the file, lines go to a new file at the path from the next check on", () => {
    const { path, clock, fallback, open } = setup(1000);
    const log = open();
    log.write("before rotation\n");
    renameSync(path, `${path}.1`);
    clock.t += 500;
    log.write("inside the check interval\n"); // not looked at yet: still the moved file
    expect(existsSync(path)).toBe(false);
    clock.t += 500;
    log.write("after the check\n");
    log.write("and after\n");
    log.close();
    expect(read(`${path}.1`)).toBe("before rotation\ninside the check interval\n");
    expect(read(path)).toBe("after the check\nand after\n");
    expect(fallback.text).toBe("");
  });

  test("a deleted file is created again; a file left in place is kept, however many checks pass", () => {
    const { path, clock, open } = setup(1000);
    const log = open();
    log.write("a\n");
    clock.t += 5000;
    log.write("b\n"); // checked: the same file, nothing reopened
    unlinkSync(path);
    clock.t += 1000;
    log.write("c\n");
    log.close();
    expect(read(path)).toBe("c\n");
  });

  test("logrotate's copytruncate works too: after the truncation, lines start at the beginning, with no hole", () => {
    const { path, open } = setup();
    const log = open();
    log.write("old line that was copied away\n");
    truncateSync(path, 0);
    log.write("new\n");
    log.close();
    expect(read(path)).toBe("new\n");
  });

  test("a path that cannot be reopened keeps the old file, and says why once on the fallback", () => {
    const { sub, path, clock, fallback, open } = setup(1000);
    const log = open();
    log.write("before\n");
    // The whole directory moved away: the path's directory is gone, so opening the path fails (ENOENT).
    renameSync(sub, `${sub}.moved`);
    for (let i = 0; i < 3; i++) {
      clock.t += 1000;
      log.write(`line ${i}\n`);
    }
    expect(read(join(`${sub}.moved`, "tracker.log"))).toBe("before\nline 0\nline 1\nline 2\n");
    expect(fallback.text.split("\n").filter(Boolean)).toEqual([expect.stringMatching(/^Cannot reopen --logfile ".*tracker\.log" \(.*\): still writing to the file it named before$/)]);
    // The directory is back: the next check opens the path again, and a later failure would be said again.
    mkdirSync(sub);
    clock.t += 1000;
    log.write("back\n");
    log.close();
    expect(read(path)).toBe("back\n");
  });

  // /dev/full (every write fails with ENOSPC) is Linux's; elsewhere nothing portable makes a write fail, so
  // the case runs only where it exists (CI is Linux).
  test.skipIf(!existsSync("/dev/full"))("a write the file refuses (disk full) goes to the fallback instead of throwing", () => {
    const fallback: LineWriter & { text: string } = {
      text: "",
      write(t: string) {
        this.text += t;
        return true;
      },
    };
    const log = openLogFile("/dev/full", { fallback });
    expect(log.write("a line ℹ\n")).toBe(true);
    log.close();
    expect(fallback.text).toBe("a line ℹ\n");
  });

  test("an unopenable path throws the open's error, for the caller to name the flag", () => {
    expect(() => openLogFile(join(dir, "no-such-dir", "x.log"))).toThrow(/ENOENT|no such file/i);
  });
});
