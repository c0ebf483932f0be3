import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { CsvParser, type CsvRow } from "../../src/core/csv-parser.ts";
import { AcctRecordMapper, goJsonString, type AcctRecord } from "../../src/core/csv-record.ts";

function run(csv: string, opts: { fields?: string[]; stored?: string | null } = {}): AcctRecord[] {
  const parser = new CsvParser();
  const rows: CsvRow[] = [];
  parser.push(csv, rows);
  parser.finish(rows);
  const mapper = new AcctRecordMapper({ fields: opts.fields });
  if (opts.stored !== undefined) mapper.useStoredHeader(opts.stored);
  return rows.map((r) => mapper.map(r));
}

/** Writes as `key=value`, skips as `line:reason`, so tables stay readable. */
function brief(records: AcctRecord[]): string[] {
  return records.map((r) => (r.ok ? `${r.key}=${r.value}` : `${r.line}:${r.reason}`));
}

const HEADER = "type,rcpt,header_x-sp-message-id,header_x-sp-subaccount-id";
const HEADERS_JSON = '{"header_x-sp-message-id":2,"header_x-sp-subaccount-id":3,"rcpt":1,"type":0}';

const cases: { name: string; csv: string; fields?: string[]; stored?: string | null; out: string[] }[] = [
  {
    name: "the original's example.csv",
    csv: `${HEADER}\nd,test+00102830@not-orange.fr.bouncy-sink.trymsys.net,0000123456789abcdef0,0\n`,
    out: [
      `acct_headers=${HEADERS_JSON}`,
      'msgID_0000123456789abcdef0={"header_x-sp-subaccount-id":"0","rcpt":"test+00102830@not-orange.fr.bouncy-sink.trymsys.net"}',
    ],
  },
  { name: "an empty input", csv: "\n", out: [] },
  {
    name: "a minimal header and row (the original's second happy path)",
    csv: "type,header_x-sp-message-id\nd,f00dbeef\n",
    out: ['acct_headers={"header_x-sp-message-id":1,"type":0}', "msgID_f00dbeef={}"],
  },
  {
    name: "header without the message id is bad and its rows have no header",
    csv: "type,rcpt\nd,a@b\n",
    out: ["1:bad-header", "2:no-header"],
  },
  { name: "record type x is skipped", csv: `${HEADER}\nx,a,b,c\nd,r,id1,7\n`, out: [`acct_headers=${HEADERS_JSON}`, "2:not-delivery", 'msgID_id1={"header_x-sp-subaccount-id":"7","rcpt":"r"}'] },
  { name: "a bounce row is skipped", csv: `${HEADER}\nb,a,b,c\n`, out: [`acct_headers=${HEADERS_JSON}`, "2:not-delivery"] },
  { name: "type\\nd: too few fields, twice", csv: "type\nd\n", out: ["1:too-few-fields", "2:too-few-fields"] },
  { name: "a row shorter than the header", csv: `${HEADER}\nd,r,id1\n`, out: [`acct_headers=${HEADERS_JSON}`, "2:column-count"] },
  { name: "a row longer than the header", csv: `${HEADER}\nd,r,id1,0,extra\n`, out: [`acct_headers=${HEADERS_JSON}`, "2:column-count"] },
  { name: "an empty message id", csv: `${HEADER}\nd,r,,0\n`, out: [`acct_headers=${HEADERS_JSON}`, "2:empty-message-id"] },
  { name: "a data row before any header, nothing stored", csv: "d,r,id1,0\n", out: ["1:no-header"] },
  {
    name: "a data row before any header uses the stored header",
    csv: "d,r,id1,0\n",
    stored: HEADERS_JSON,
    out: ['msgID_id1={"header_x-sp-subaccount-id":"0","rcpt":"r"}'],
  },
  { name: "stored header deleted", csv: "d,r,id1,0\n", stored: null, out: ["1:no-header"] },
  { name: "stored header missing the id", csv: "d,r,id1,0\n", stored: '{"bananas":1,"type":0}', out: ["1:no-header"] },
  { name: "stored header that is not JSON", csv: "d,r,id1,0\n", stored: "{gooseberry}", out: ["1:no-header"] },
  { name: "stored header wider than the row", csv: "d,r,id1\n", stored: HEADERS_JSON, out: ["1:column-count"] },
  {
    name: "stored extra fields are copied like the original",
    csv: "d,r,id1,0,camp\n",
    stored: '{"header_x-campaign":4,"header_x-sp-message-id":2,"rcpt":1,"type":0}',
    out: ['msgID_id1={"header_x-campaign":"camp","rcpt":"r"}'],
  },
  {
    name: "header re-sent with columns reordered",
    csv: `${HEADER}\nd,r1,id1,1\ntype,header_x-sp-subaccount-id,header_x-sp-message-id,rcpt\nd,2,id2,r2\n`,
    out: [
      `acct_headers=${HEADERS_JSON}`,
      'msgID_id1={"header_x-sp-subaccount-id":"1","rcpt":"r1"}',
      'acct_headers={"header_x-sp-message-id":2,"header_x-sp-subaccount-id":1,"rcpt":3,"type":0}',
      'msgID_id2={"header_x-sp-subaccount-id":"2","rcpt":"r2"}',
    ],
  },
  {
    name: "--field records an extra column; unlisted columns are ignored",
    csv: "type,rcpt,header_x-sp-message-id,dsnStatus,header_x-job\nd,r,id1,2.0.0,job7\n",
    fields: ["header_x-job"],
    out: [
      'acct_headers={"header_x-job":4,"header_x-sp-message-id":2,"rcpt":1,"type":0}',
      'msgID_id1={"header_x-job":"job7","rcpt":"r"}',
    ],
  },
  {
    name: "quoted fields with commas, quotes and newlines",
    csv: `${HEADER}\nd,"Fred, ""Jr"" <f@x>",id1,"0\n1"\n`,
    out: [`acct_headers=${HEADERS_JSON}`, 'msgID_id1={"header_x-sp-subaccount-id":"0\\n1","rcpt":"Fred, \\"Jr\\" \\u003cf@x\\u003e"}'],
  },
  { name: "a malformed row is reported and the next one kept", csv: `${HEADER}\nd,a"b,id1,0\nd,r,id2,0\n`, out: [`acct_headers=${HEADERS_JSON}`, "2:malformed", 'msgID_id2={"header_x-sp-subaccount-id":"0","rcpt":"r"}'] },
];

describe("AcctRecordMapper", () => {
  test.each(cases)("map(): $name", ({ csv, fields, stored, out }) => {
    expect(brief(run(csv, { fields, stored }))).toEqual(out);
  });

  test("map() reports a missing --field on the header", () => {
    const [header] = run("type,header_x-sp-message-id,rcpt\n", { fields: ["header_x-job"] });
    expect(header?.ok && header.kind === "header" && header.header.missing).toEqual(["header_x-sp-subaccount-id", "header_x-job"]);
  });

  test("wantsStoredHeader is true only before any header row or stored header", () => {
    const mapper = new AcctRecordMapper();
    expect(mapper.wantsStoredHeader).toBe(true);
    mapper.map({ ok: true, line: 1, fields: ["type", "rcpt"] });
    expect(mapper.wantsStoredHeader).toBe(false);
    const other = new AcctRecordMapper();
    expect(other.useStoredHeader("{gooseberry}")).toContain("Cannot parse stored acct_headers");
    expect(other.wantsStoredHeader).toBe(false);
  });

  test.each([
    { name: "type", field: "type" },
    { name: "the message id", field: "header_x-sp-message-id" },
    { name: "an empty name", field: "" },
  ])("constructor rejects --field $name", ({ field }) => {
    expect(() => new AcctRecordMapper({ fields: [field] })).toThrow(RangeError);
  });
});

test.each([
  { name: "plain", input: "a@b.c", output: '"a@b.c"' },
  { name: "HTML-unsafe characters as Go escapes them", input: "<a&b>", output: '"\\u003ca\\u0026b\\u003e"' },
  { name: "line separators", input: "\u2028\u2029", output: '"\\u2028\\u2029"' },
  { name: "repeated calls stay correct", input: "x&y", output: '"x\\u0026y"' },
])("goJsonString() $name", ({ input, output }) => {
  expect(goJsonString(input)).toBe(output);
  expect(goJsonString(input)).toBe(output);
});

test("CsvParser + AcctRecordMapper never throw and keep line numbers increasing, whatever the input", () => {
  const piece = fc.oneof(
    fc.constantFrom("type,", "d,", "b,", "header_x-sp-message-id", "rcpt", ",", '"', '""', "\n", "\r\n", "\r", "\ufeff", "é", "😀", ""),
    fc.string({ maxLength: 5 }),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 60 }), fc.integer({ min: 1, max: 9 }), (pieces, size) => {
      const input = pieces.join("");
      const parser = new CsvParser({ maxRecordLength: 40 });
      const mapper = new AcctRecordMapper({ fields: ["x"] });
      const rows: CsvRow[] = [];
      for (let i = 0; i < input.length; i += size) parser.push(input.slice(i, i + size), rows);
      parser.finish(rows);
      let last = 0;
      for (const row of rows) {
        expect(row.line).toBeGreaterThan(last);
        last = row.line;
        const rec = mapper.map(row);
        expect(typeof rec.ok).toBe("boolean");
      }
      expect(parser.pending).toBe(0);
    }),
    { numRuns: 500 },
  );
});
