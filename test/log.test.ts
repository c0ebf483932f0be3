/** @module createLogger(): the one-line format, in UTC or local time. */
import { expect, test } from "bun:test";
import { createLogger } from "../src/log.ts";

function capture(opts: { utc?: boolean } = {}) {
  const lines: string[] = [];
  const log = createLogger({ ...opts, stream: { write: (l: string) => lines.push(l) } }).withTag("acct-etl");
  return { log, lines };
}

const pad = (n: number) => String(n).padStart(2, "0");

const stamps = {
  utc: (d: Date) => `${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`,
  local: (d: Date) => `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`,
};

for (const [name, utc, stamp] of [["createLogger({ utc: true }) stamps each line with the UTC date and time", true, stamps.utc],
  ["createLogger() stamps each line with the local date and time by default", undefined, stamps.local]] as const) {
  test(name, () => {
    const { log, lines } = capture(utc === undefined ? {} : { utc });
    const before = new Date();
    log.info("Reading stdin");
    const after = new Date();
    expect([`${stamp(before)} [acct-etl] ℹ Reading stdin\n`, `${stamp(after)} [acct-etl] ℹ Reading stdin\n`]).toContain(lines[0]!);
  });
}

test("createLogger() writes a lone string as it is, % signs included, and formats several arguments", () => {
  const { log, lines } = capture({ utc: true });
  log.warn("100% done, %s %d %%");
  log.warn("x:3: skipped", { n: 1 }, 2);
  log.error(new Error("boom"));
  const body = lines.map((l) => l.slice("2026/11/29 08:19:32 ".length));
  expect(body[0]).toBe("[acct-etl] ⚠ 100% done, %s %d %%\n");
  expect(body[1]).toBe("[acct-etl] ⚠ x:3: skipped { n: 1 } 2\n");
  expect(body[2]).toStartWith("[acct-etl] ✖ boom\n  at ");
});
