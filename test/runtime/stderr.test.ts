/** @module The fd writer behind the logger and the terminal-only status line. */
import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../src/log.ts";
import { createFdWriter, startStatusLine, type LineWriter } from "../../src/runtime/stderr.ts";

const dir = mkdtempSync(join(tmpdir(), "mtatrack-stderr-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function collector(): LineWriter & { text: string } {
  return {
    text: "",
    write(t: string) {
      this.text += t;
      return true;
    },
  };
}

describe("createFdWriter()", () => {
  test("createFdWriter() writes each string's UTF-8 bytes to the fd, in order", () => {
    const path = join(dir, "out.txt");
    const fd = openSync(path, "w");
    const writer = createFdWriter(fd, () => expect.unreachable("no fallback expected"));
    writer.write("2026/11/29 08:19:32 [acct-etl] ℹ Reading stdin\n");
    writer.write("✖ ünïcødé, then ascii\n");
    closeSync(fd);
    expect(readFileSync(path, "utf8")).toBe("2026/11/29 08:19:32 [acct-etl] ℹ Reading stdin\n✖ ünïcødé, then ascii\n");
  });

  test("createFdWriter() hands the failed write and every later one to the fallback", () => {
    const fallback = collector();
    let asked = 0;
    const writer = createFdWriter(987654, () => (asked++, fallback)); // not an open fd: EBADF
    writer.write("first ℹ\n");
    writer.write("second\n");
    expect(fallback.text).toBe("first ℹ\nsecond\n");
    expect(asked).toBe(1);
  });

  test("createLogger() through createFdWriter() writes the same line as through a stream", () => {
    const path = join(dir, "log.txt");
    const fd = openSync(path, "w");
    const viaStream = collector();
    for (const stream of [createFdWriter(fd), viaStream]) {
      const log = createLogger({ stream }).withTag("acct-etl");
      log.info("Reading stdin");
      log.warn("x:3: skipped", { n: 1 });
    }
    closeSync(fd);
    const undated = (text: string) => text.replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /gm, "DATE ");
    expect(undated(readFileSync(path, "utf8"))).toBe(undated(viaStream.text));
    expect(undated(viaStream.text)).toBe("DATE [acct-etl] ℹ Reading stdin\nDATE [acct-etl] ⚠ x:3: skipped { n: 1 }\n");
  });
});

describe("startStatusLine()", () => {
  test("startStatusLine() redraws the line on a terminal and erases it on stop()", async () => {
    const writer = collector();
    let n = 0;
    const line = startStatusLine(() => `rows ${++n}`, { intervalMs: 10, writer, isTerminal: async () => true });
    for (let waited = 0; n < 2 && waited < 5000; waited += 10) await Bun.sleep(10);
    line.stop();
    const text = writer.text;
    expect(text.startsWith("\r\x1b[Krows 1\r\x1b[Krows 2")).toBe(true);
    expect(text.endsWith("\r\x1b[K")).toBe(true);
    await Bun.sleep(30);
    expect(writer.text).toBe(text); // nothing after stop()
  });

  test("startStatusLine() writes nothing when standard error is not a terminal", async () => {
    const writer = collector();
    let asked = 0;
    const line = startStatusLine(() => "rows", { intervalMs: 10, writer, isTerminal: async () => (asked++, false) });
    await Bun.sleep(45);
    line.stop();
    expect(writer.text).toBe("");
    expect(asked).toBe(1);
  });

  test("startStatusLine() stopped before the first interval never asks whether it is a terminal", async () => {
    const writer = collector();
    let asked = 0;
    startStatusLine(() => "rows", { intervalMs: 20, writer, isTerminal: async () => (asked++, true) }).stop();
    await Bun.sleep(50);
    expect(asked).toBe(0);
    expect(writer.text).toBe("");
  });
});
