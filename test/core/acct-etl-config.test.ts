import { expect, test } from "bun:test";
import { flagValues, formatProgress, formatSummary, parseSeconds, resolveAcctEtlConfig } from "../../src/core/acct-etl-config.ts";

test.each([
  { name: "plain seconds", input: "864000", output: 864000 },
  { name: "days", input: "10d", output: 864000 },
  { name: "hours, upper case", input: "12H", output: 43200 },
  { name: "minutes", input: "30m", output: 1800 },
  { name: "seconds unit", input: "45s", output: 45 },
])("parseSeconds() accepts $name", ({ input, output }) => {
  expect(parseSeconds(input, "ttl")).toBe(output);
});

test.each([
  { name: "zero", input: "0" },
  { name: "negative", input: "-5" },
  { name: "a fraction", input: "1.5d" },
  { name: "an unknown unit", input: "3w" },
  { name: "words", input: "ten days" },
])("parseSeconds() rejects $name with a RangeError naming the flag", ({ input }) => {
  expect(() => parseSeconds(input, "ttl")).toThrow(/--ttl/);
});

test("flagValues() collects every --name v and --name=v in order, stopping at --", () => {
  expect(flagValues(["--field", "a", "--x", "--field=b", "--", "--field", "c"], "field")).toEqual(["a", "b"]);
  expect(() => flagValues(["--field"], "field")).toThrow(RangeError);
});

test("resolveAcctEtlConfig() defaults to stdin, 10 days, no extra fields, 30 s store bound", () => {
  expect(resolveAcctEtlConfig([], {})).toEqual({ inputs: [], ttlSeconds: 864000, fields: [], storeRetryMs: 30000 });
});

test("resolveAcctEtlConfig() reads repeated and comma-separated --field, repeated --infile, --ttl and --store-retry", () => {
  const raw = ["--field", "a,b", "--field=a", "--infile", "x.csv", "--infile=y.csv", "--ttl", "1h", "--store-retry", "5s"];
  expect(resolveAcctEtlConfig(raw, { ttl: "1h", "store-retry": "5s" })).toEqual({
    inputs: ["x.csv", "y.csv"],
    ttlSeconds: 3600,
    fields: ["a", "b"],
    storeRetryMs: 5000,
  });
});

test.each([
  { name: "--field type", raw: ["--field", "type"] },
  { name: "--field header_x-sp-message-id", raw: ["--field=header_x-sp-message-id"] },
  { name: "an empty --infile", raw: ["--infile="] },
])("resolveAcctEtlConfig() rejects $name", ({ raw }) => {
  expect(() => resolveAcctEtlConfig(raw, {})).toThrow(RangeError);
});

test("formatSummary() lists skip reasons and anything not stored", () => {
  expect(formatSummary({ bytes: 1, rows: 5, headers: 1, stored: 2, skipped: { malformed: 1, "not-delivery": 1 }, pending: 0 }))
    .toBe("rows 5, headers 1, stored 2, skipped 2 (malformed 1, not-delivery 1)");
  expect(formatSummary({ bytes: 1, rows: 3, headers: 1, stored: 0, skipped: {}, pending: 2 })).toBe("rows 3, headers 1, stored 0, skipped 0, not stored 2");
});

test("formatProgress() shows the share read and the rate", () => {
  expect(formatProgress({ name: "acct.csv", bytes: 50, size: 100, rows: 1000, elapsedMs: 2000 })).toBe("acct.csv: 50% 1000 rows, 500 rows/s");
  expect(formatProgress({ name: "empty.csv", bytes: 0, size: 0, rows: 0, elapsedMs: 0 })).toBe("empty.csv: 100% 0 rows, 0 rows/s");
});
