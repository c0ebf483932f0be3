import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { CsvParser, type CsvRow } from "../../src/core/csv-parser.ts";

function parseWhole(input: string, opts?: { maxRecordLength?: number }): CsvRow[] {
  const parser = new CsvParser(opts);
  const out: CsvRow[] = [];
  parser.push(input, out);
  parser.finish(out);
  return out;
}

function parseInPieces(input: string, sizes: number[], opts?: { maxRecordLength?: number }): CsvRow[] {
  const parser = new CsvParser(opts);
  const out: CsvRow[] = [];
  let at = 0;
  for (let k = 0; at < input.length; k++) {
    const size = Math.max(1, sizes.length ? sizes[k % sizes.length]! : 1);
    parser.push(input.slice(at, at + size), out);
    at += size;
  }
  parser.finish(out);
  return out;
}

const ok = (line: number, ...fields: string[]) => ({ ok: true, line, fields });
const bad = (line: number, reason: string) => ({ ok: false, line, reason });

function shape(rows: CsvRow[]) {
  return rows.map((r) => (r.ok ? r : { ok: false, line: r.line, reason: r.reason }));
}

const cases: { name: string; input: string; output: unknown[]; max?: number }[] = [
  { name: "LF", input: "a,b\nc,d\n", output: [ok(1, "a", "b"), ok(2, "c", "d")] },
  { name: "CRLF", input: "a,b\r\nc,d\r\n", output: [ok(1, "a", "b"), ok(2, "c", "d")] },
  { name: "no final line break", input: "a,b\nc,d", output: [ok(1, "a", "b"), ok(2, "c", "d")] },
  { name: "blank lines are skipped but counted", input: "\n\na\r\n\r\nb\n", output: [ok(3, "a"), ok(5, "b")] },
  { name: "empty fields", input: ",,\n", output: [ok(1, "", "", "")] },
  { name: "quoted comma", input: 'd,"a,b",c\n', output: [ok(1, "d", "a,b", "c")] },
  { name: "escaped quote", input: 'd,"say ""hi""",c\n', output: [ok(1, "d", 'say "hi"', "c")] },
  { name: "quoted newline spans lines", input: 'd,"x\ny",z\nnext\n', output: [ok(1, "d", "x\ny", "z"), ok(3, "next")] },
  { name: "quoted CRLF becomes LF", input: 'd,"x\r\ny"\r\nnext\r\n', output: [ok(1, "d", "x\ny"), ok(3, "next")] },
  { name: "quoted last field with CRLF", input: 'a,"b"\r\n', output: [ok(1, "a", "b")] },
  { name: "quoted empty field", input: '"",x\n', output: [ok(1, "", "x")] },
  { name: "byte order mark dropped", input: "\ufefftype,rcpt\n", output: [ok(1, "type", "rcpt")] },
  { name: "bare quote is malformed, next line survives", input: 'd,ab"c,x\nd,ok\n', output: [bad(1, "malformed"), ok(2, "d", "ok")] },
  { name: "text after closing quote is malformed", input: 'd,"ab"c,x\nd,ok\n', output: [bad(1, "malformed"), ok(2, "d", "ok")] },
  {
    name: "stray opening quote costs one line",
    input: 'd,"oops,1\nd,fine,2\nd,also,3\n',
    output: [bad(1, "malformed"), ok(2, "d", "fine", "2"), ok(3, "d", "also", "3")],
  },
  {
    name: "stray quote closed on a later line costs one line",
    input: 'd,"oops\nd,x"y\nd,z\n',
    output: [bad(1, "malformed"), bad(2, "malformed"), ok(3, "d", "z")],
  },
  { name: "long unquoted line is too-long", input: `${"x".repeat(50)}\nd,ok\n`, max: 20, output: [bad(1, "too-long"), ok(2, "d", "ok")] },
  { name: "long quoted record is too-long", input: `d,"${"x".repeat(50)}"\nd,ok\n`, max: 20, output: [bad(1, "too-long"), ok(2, "d", "ok")] },
  { name: "unterminated line at end of input", input: `${"x".repeat(50)}`, max: 20, output: [bad(1, "too-long")] },
  { name: "carriage return inside unquoted field is data", input: "a\rb,c\n", output: [ok(1, "a\rb", "c")] },
];

describe("CsvParser", () => {
  test.each(cases)("push() whole: $name", ({ input, output, max }) => {
    expect(shape(parseWhole(input, { maxRecordLength: max }))).toEqual(output as CsvRow[]);
  });

  test.each(cases)("push() one character at a time: $name", ({ input, output, max }) => {
    expect(shape(parseInPieces(input, [1], { maxRecordLength: max }))).toEqual(output as CsvRow[]);
  });

  test("push() gives the same rows however the input is split", () => {
    const field = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('"', ",", "\n", "\r\n", '""', "a,b"));
    const record = fc.array(field, { minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(fc.array(record, { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1 }), (records, sizes) => {
        const input = records.map((r) => r.map((f) => `"${f.replaceAll('"', '""')}"`).join(",")).join("\r\n") + "\r\n";
        const whole = parseWhole(input);
        expect(parseInPieces(input, sizes)).toEqual(whole);
        // Correctly quoted input always round-trips (CRLF inside a quoted field reads back as LF, as in Go).
        expect(whole.map((r) => (r.ok ? r.fields : null))).toEqual(records.map((r) => r.map((f) => f.replaceAll("\r\n", "\n"))));
      }),
      { numRuns: 300 },
    );
  });

  test("push() holds at most one bounded record, whatever arrives", () => {
    const parser = new CsvParser({ maxRecordLength: 1000 });
    const out: CsvRow[] = [];
    for (let i = 0; i < 1000; i++) {
      parser.push(i % 2 ? '"' + "y".repeat(97) : "x".repeat(100), out);
      expect(parser.pending).toBeLessThanOrEqual(1100);
    }
    expect(out.every((r) => !r.ok && r.reason === "too-long")).toBe(true);
    expect(out.length).toBe(1);
  });

  test("constructor rejects a maxRecordLength below 1", () => {
    expect(() => new CsvParser({ maxRecordLength: 0 })).toThrow(RangeError);
  });
});
