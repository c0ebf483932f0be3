/**
 * @module Maps PowerMTA accounting rows to the original's KV layout: `acct_headers` (field name → column)
 * and `msgID_<id>` → JSON of the other recorded fields, so the Go tools and mtatrack read each other's keys.
 */
import type { CsvRow, CsvRowFailure } from "./csv-parser.ts";

/** The KV key holding the last header, JSON `{"<field>":<column>,…}`, keys sorted, no TTL. */
export const ACCT_HEADERS_KEY = "acct_headers";
/** Prefix of the per-message keys: `msgID_<header_x-sp-message-id>`. */
export const MESSAGE_KEY_PREFIX = "msgID_";
/** The column holding the message id: the `X-Sp-Message-Id` header the wrapper adds. */
export const MESSAGE_ID_FIELD = "header_x-sp-message-id";
/** Recorded whenever the header has them, as the original did. */
export const STANDARD_FIELDS: readonly string[] = ["rcpt", "header_x-sp-subaccount-id"];

/** Why a row was skipped; each is counted separately in the summary. */
export type AcctSkipReason =
  | CsvRowFailure
  | "too-few-fields" // fewer than 2 fields (the original's "Insufficient data fields")
  | "bad-header" // a `type` row without header_x-sp-message-id
  | "no-header" // a `d` row with no usable header, neither seen nor stored
  | "column-count" // a row whose column count does not fit the header
  | "empty-message-id"
  | "not-delivery"; // a record type other than d (bounces and the like)

/** What one CSV row becomes: a KV write, or a reason to skip it. */
export type AcctRecord =
  | { readonly ok: true; readonly kind: "header"; readonly line: number; readonly key: string; readonly value: string; readonly header: AcctHeader }
  | { readonly ok: true; readonly kind: "delivery"; readonly line: number; readonly key: string; readonly value: string }
  | { readonly ok: false; readonly line: number; readonly reason: AcctSkipReason; readonly message: string };

/** A header in force: where each recorded field sits in a row. */
export interface AcctHeader {
  /** Field name → column, for `type`, the message id and every recorded field the header has. */
  readonly index: Readonly<Record<string, number>>;
  /** Row width the header announced; null for a header read back from the store (width unknown). */
  readonly columns: number | null;
  /** The `acct_headers` value: `index` as JSON with sorted keys. */
  readonly json: string;
  /** Recorded fields (`rcpt`, subaccount, `--field`s) that this header lacks. */
  readonly missing: readonly string[];
}

export interface AcctRecordMapperOptions {
  /** Extra fields to record, beyond `rcpt` and `header_x-sp-subaccount-id` (the `--field` flags). @default [] */
  fields?: readonly string[];
}

interface Compiled {
  header: AcctHeader;
  idIndex: number;
  /** Row length the header needs: its width, or one more than its highest column. */
  minColumns: number;
  exact: boolean;
  /** Columns of the value fields and the JSON text before each, so a row's value is one concatenation. */
  columns: number[];
  prefixes: string[];
}

/**
 * Turns CSV rows into KV writes, keeping the header in force between rows.
 * A `type` row sets the header (and is itself written as `acct_headers`); `d` rows become
 * `msgID_<id>` entries. Everything else is a skip with a reason, never an exception.
 *
 * @example
 * const mapper = new AcctRecordMapper();
 * mapper.map({ ok: true, line: 1, fields: ["type", "rcpt", "header_x-sp-message-id"] });
 * mapper.map({ ok: true, line: 2, fields: ["d", "a@b.c", "0000123456789abcdef0"] });
 * // { ok: true, kind: "delivery", line: 2, key: "msgID_0000123456789abcdef0", value: '{"rcpt":"a@b.c"}' }
 */
export class AcctRecordMapper {
  readonly #recorded: readonly string[];
  #current: Compiled | null = null;
  /** Line of the last `type` row, valid or not; 0 before any. */
  #headerLine = 0;
  #storedTried = false;

  constructor({ fields = [] }: AcctRecordMapperOptions = {}) {
    for (const f of fields) {
      if (f === "" || f === "type" || f === MESSAGE_ID_FIELD) throw new RangeError(`Cannot record field "${f}": it is empty or always used as the key`);
    }
    this.#recorded = [...new Set([...STANDARD_FIELDS, ...fields])];
  }

  /** The header in force, or null. */
  get header(): AcctHeader | null {
    return this.#current?.header ?? null;
  }

  /**
   * True while no header row has been seen and no stored header was offered: the moment to read
   * `acct_headers` from the store, as the original did for data rows before any header.
   */
  get wantsStoredHeader(): boolean {
    return this.#headerLine === 0 && !this.#storedTried && this.#current === null;
  }

  /**
   * Adopts a header stored earlier (by this tool or the original) for rows that arrive before any header row.
   * @param json the `acct_headers` value, or null when the store has none
   * @returns the reason it cannot be used, or null when it is now in force
   */
  useStoredHeader(json: string | null): string | null {
    this.#storedTried = true;
    if (json === null) return `Key ${ACCT_HEADERS_KEY} is not in the store`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (error) {
      return `Cannot parse stored ${ACCT_HEADERS_KEY} ${JSON.stringify(json.slice(0, 80))}: ${(error as Error).message}`;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return `Stored ${ACCT_HEADERS_KEY} is not a JSON object`;
    const index: Record<string, number> = {};
    for (const [name, col] of Object.entries(parsed)) {
      if (!Number.isSafeInteger(col) || (col as number) < 0) return `Stored ${ACCT_HEADERS_KEY} has a bad column for "${name}": ${JSON.stringify(col)}`;
      index[name] = col as number;
    }
    if (!(MESSAGE_ID_FIELD in index)) return `Stored ${ACCT_HEADERS_KEY} is missing field ${MESSAGE_ID_FIELD}`;
    // As in the original, every stored field but type and the id is recorded, whatever this run's --field says.
    this.#current = compile(index, null, []);
    return null;
  }

  /** Maps one parsed row. Never throws. */
  map(row: CsvRow): AcctRecord {
    if (!row.ok) return row;
    const { line, fields } = row;
    if (fields.length < 2) return skip(line, "too-few-fields", `Row has ${fields.length} field: ${preview(fields)}`);
    const type = fields[0];
    if (type === "d") return this.#delivery(line, fields);
    if (type === "type") return this.#headerRow(line, fields);
    return skip(line, "not-delivery", `Record type ${JSON.stringify(type?.slice(0, 20))} is not d`);
  }

  #headerRow(line: number, fields: string[]): AcctRecord {
    this.#headerLine = line;
    this.#current = null; // a bad header must not leave an older mapping in force for this stream's rows
    if (!fields.includes(MESSAGE_ID_FIELD)) {
      return skip(line, "bad-header", `Required field ${MESSAGE_ID_FIELD} is not present in header ${preview(fields)}`);
    }
    const index: Record<string, number> = { type: 0, [MESSAGE_ID_FIELD]: fields.indexOf(MESSAGE_ID_FIELD) };
    const missing: string[] = [];
    for (const name of this.#recorded) {
      const col = fields.indexOf(name);
      if (col === -1) missing.push(name);
      else index[name] = col;
    }
    const compiled = compile(index, fields.length, missing);
    this.#current = compiled;
    return { ok: true, kind: "header", line, key: ACCT_HEADERS_KEY, value: compiled.header.json, header: compiled.header };
  }

  #delivery(line: number, fields: string[]): AcctRecord {
    const c = this.#current;
    if (c === null) {
      const why = this.#headerLine ? `the header at line ${this.#headerLine} was not usable` : "no header row has been seen and none is stored";
      return skip(line, "no-header", `Cannot map delivery row: ${why}`);
    }
    if (c.exact ? fields.length !== c.minColumns : fields.length < c.minColumns) {
      return skip(line, "column-count", `Row has ${fields.length} columns, header has ${c.exact ? "" : "at least "}${c.minColumns}`);
    }
    const id = fields[c.idIndex]!;
    if (id === "") return skip(line, "empty-message-id", `Row has an empty ${MESSAGE_ID_FIELD}`);
    let value = "";
    for (let k = 0; k < c.columns.length; k++) value += c.prefixes[k] + goJsonString(fields[c.columns[k]!]!);
    return { ok: true, kind: "delivery", line, key: MESSAGE_KEY_PREFIX + id, value: c.columns.length ? value + "}" : "{}" };
  }
}

function compile(index: Record<string, number>, columns: number | null, missing: string[]): Compiled {
  const names = Object.keys(index).sort(); // Go's encoding/json sorts map keys bytewise; these are ASCII
  const json = `{${names.map((n) => `${goJsonString(n)}:${index[n]}`).join(",")}}`;
  const valueNames = names.filter((n) => n !== "type" && n !== MESSAGE_ID_FIELD);
  const max = Math.max(...Object.values(index));
  return {
    header: Object.freeze({ index: Object.freeze({ ...index }), columns, json, missing: Object.freeze(missing) }),
    idIndex: index[MESSAGE_ID_FIELD]!,
    minColumns: columns ?? max + 1,
    exact: columns !== null,
    columns: valueNames.map((n) => index[n]!),
    prefixes: valueNames.map((n, k) => `${k === 0 ? "{" : ","}${goJsonString(n)}:`),
  };
}

const GO_ESCAPE = /[<>&\u2028\u2029]/;
const GO_ESCAPES = /[<>&\u2028\u2029]/g;

/** `JSON.stringify` of a string, escaped the way Go's encoding/json does (`<`, `>`, `&`, U+2028, U+2029), so values match the original's byte for byte. */
export function goJsonString(s: string): string {
  const json = JSON.stringify(s);
  return GO_ESCAPE.test(json) ? json.replace(GO_ESCAPES, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`) : json;
}

function skip(line: number, reason: AcctSkipReason, message: string): AcctRecord {
  return { ok: false, line, reason, message };
}

/** The fields as the original printed them (`[a b c]`), cut short so a huge row never floods a log line. */
function preview(fields: readonly string[]): string {
  const text = `[${fields.join(" ")}]`;
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
