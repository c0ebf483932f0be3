/**
 * @module An incremental RFC 4180 CSV parser: text goes in as it arrives, complete rows come out with their
 * line numbers, and no input can make it hold more than one bounded record.
 */

/** A parsed row, or why the text at `line` could not be one. */
export type CsvRow =
  | { readonly ok: true; readonly line: number; readonly fields: string[] }
  | { readonly ok: false; readonly line: number; readonly reason: CsvRowFailure; readonly message: string };

/** `malformed`: a quote where RFC 4180 allows none. `too-long`: the record passed `maxRecordLength`. */
export type CsvRowFailure = "malformed" | "too-long";

export interface CsvParserOptions {
  /**
   * Longest record, in UTF-16 code units (line break included), before it is dropped as `too-long`.
   * This is what bounds memory: an endless line or an unclosed quote costs at most this much.
   * @default 65536
   */
  maxRecordLength?: number;
}

const LF = 10;
const CR = 13;
const QUOTE = 34;
const COMMA = 44;

/**
 * Parses CSV as it arrives, the way Go's `encoding/csv` reads PowerMTA's accounting pipe: comma-separated,
 * fields optionally in double quotes (`""` inside is one quote, commas and line breaks allowed), CRLF or LF,
 * blank lines skipped. Unlike Go it never stops: a bad record is reported and parsing resumes on the next line.
 *
 * Rows are appended to the array given to {@link CsvParser.push} so a hot loop allocates no iterator per chunk.
 *
 * @example
 * const parser = new CsvParser();
 * const rows: CsvRow[] = [];
 * parser.push('type,rcpt\nd,"a,b"\n', rows);
 * parser.finish(rows);
 * // rows: [{ ok: true, line: 1, fields: ["type", "rcpt"] }, { ok: true, line: 2, fields: ["d", "a,b"] }]
 */
export class CsvParser {
  readonly #max: number;
  /** Text not yet consumed: at most one incomplete record (bounded by `#max`). */
  #buf = "";
  /** Line number of the first character of `#buf`. */
  #line = 1;
  /** After a bad record: drop text up to and including the next LF. */
  #skipping = false;
  #started = false;

  constructor({ maxRecordLength = 65536 }: CsvParserOptions = {}) {
    if (!(maxRecordLength >= 1)) throw new RangeError(`Cannot use maxRecordLength ${maxRecordLength}: must be at least 1`);
    this.#max = maxRecordLength;
  }

  /** Line number where the next record will start (1-based); useful for progress and diagnostics. */
  get line(): number {
    return this.#line;
  }

  /** Characters held back as the start of an incomplete record. */
  get pending(): number {
    return this.#buf.length;
  }

  /**
   * Feeds the next piece of text and appends every row it completes to `out`.
   * @param text any slice of the input; records may span calls
   * @param out receives complete rows and failures, in input order
   */
  push(text: string, out: CsvRow[]): void {
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a UTF-8 byte order mark is not data
    }
    const buf = this.#buf.length === 0 ? text : this.#buf + text;
    this.#buf = "";
    this.#parse(buf, out, false);
  }

  /** Ends the input: a final record without a line break is still a record. Appends it to `out`. */
  finish(out: CsvRow[]): void {
    const buf = this.#buf;
    this.#buf = "";
    this.#parse(buf, out, true);
    this.#skipping = false;
  }

  /** Drops any incomplete record (on an abandoned input) and returns how many characters were dropped. */
  discard(): number {
    const n = this.#buf.length;
    this.#buf = "";
    this.#skipping = false;
    return n;
  }

  #parse(buf: string, out: CsvRow[], eof: boolean): void {
    const len = buf.length;
    let pos = 0;
    let quote = -1; // next quote at or after pos, cached so a lone quote far ahead is not searched for per line
    while (pos < len) {
      if (this.#skipping) {
        const nl = buf.indexOf("\n", pos);
        if (nl === -1) return; // everything left belongs to the dropped record
        this.#skipping = false;
        this.#line++;
        pos = nl + 1;
        continue;
      }
      const nl = buf.indexOf("\n", pos);
      const end = nl === -1 ? len : nl;
      if (nl === -1 && !eof) {
        if (len - pos > this.#max) this.#recover(buf, pos, out, "too-long", `Record is longer than ${this.#max} characters`);
        else this.#buf = buf.slice(pos);
        return;
      }
      if (quote !== len && quote < pos) {
        quote = buf.indexOf('"', pos);
        if (quote === -1) quote = len;
      }
      // A record without quotes is one physical line: split it directly (the fast path PowerMTA takes).
      if (quote > end) {
        const lineEnd = end > pos && buf.charCodeAt(end - 1) === CR ? end - 1 : end;
        if (end + 1 - pos > this.#max) this.#fail(out, this.#line, "too-long", `Record is longer than ${this.#max} characters`);
        else if (lineEnd > pos) out.push({ ok: true, line: this.#line, fields: buf.slice(pos, lineEnd).split(",") });
        this.#line++;
        pos = end + 1;
        continue;
      }
      pos = this.#parseQuoted(buf, pos, out, eof);
      if (pos === -1) return; // incomplete (kept in #buf) or dropped up to a line break not yet read
    }
  }

  /** Parses one record that contains a quote. Returns the position after it, or -1 when it needs more text. */
  #parseQuoted(buf: string, start: number, out: CsvRow[], eof: boolean): number {
    const len = buf.length;
    const limit = Math.min(len, start + this.#max);
    const fields: string[] = [];
    let newlines = 0;
    let i = start;
    for (;;) {
      if (i < limit && buf.charCodeAt(i) === QUOTE) {
        let value = "";
        let from = i + 1;
        i = from;
        for (;;) {
          const q = buf.indexOf('"', i);
          if (q === -1 || q >= limit) return this.#needMore(buf, start, out, eof, "Quoted field is not closed");
          if (q + 1 >= len && !eof) return this.#needMore(buf, start, out, eof, "");
          if (q + 1 < len && buf.charCodeAt(q + 1) === QUOTE) {
            value += buf.slice(from, q + 1); // "" is one quote
            from = i = q + 2;
            continue;
          }
          value += buf.slice(from, q);
          i = q + 1;
          break;
        }
        if (value.includes("\n")) {
          newlines += countLf(value);
          // Go's encoding/csv turns a quoted CRLF into LF; so do we, so values match what the original stored.
          value = value.replaceAll("\r\n", "\n");
        }
        fields.push(value);
        const c = i < len ? buf.charCodeAt(i) : -1;
        if (c === COMMA) {
          i++;
          continue;
        }
        if (c === -1 && eof) return this.#emit(out, fields, newlines, len);
        if (c === LF) return this.#emit(out, fields, newlines, i + 1);
        if (c === CR && i + 1 < len && buf.charCodeAt(i + 1) === LF) return this.#emit(out, fields, newlines, i + 2);
        if (c === CR && i + 1 >= len && !eof) return this.#needMore(buf, start, out, eof, "");
        return this.#recover(buf, start, out, "malformed", `Unexpected character after the closing quote of field ${fields.length}`);
      }
      // An unquoted field runs to the next comma or line end; a quote inside it is malformed (Go: bare ").
      let j = i;
      for (; j < limit; j++) {
        const c = buf.charCodeAt(j);
        if (c === COMMA || c === LF) break;
        if (c === QUOTE) return this.#recover(buf, start, out, "malformed", `Quote inside unquoted field ${fields.length + 1}`);
      }
      if (j >= limit && !(eof && j === len)) return this.#needMore(buf, start, out, eof, "");
      const stop = j < len && buf.charCodeAt(j) === LF && j > i && buf.charCodeAt(j - 1) === CR ? j - 1 : j;
      fields.push(buf.slice(i, stop));
      if (j < len && buf.charCodeAt(j) === COMMA) {
        i = j + 1;
        continue;
      }
      return this.#emit(out, fields, newlines, j < len ? j + 1 : len);
    }
  }

  #emit(out: CsvRow[], fields: string[], newlines: number, next: number): number {
    out.push({ ok: true, line: this.#line, fields });
    this.#line += newlines + 1;
    return next;
  }

  /** The record is incomplete: keep it for the next push, unless it is already too long or the input ended. */
  #needMore(buf: string, start: number, out: CsvRow[], eof: boolean, eofMessage: string): number {
    if (buf.length - start > this.#max) return this.#recover(buf, start, out, "too-long", `Record is longer than ${this.#max} characters`);
    if (eof) return this.#recover(buf, start, out, "malformed", eofMessage || "Record ends in the middle of a field");
    this.#buf = buf.slice(start);
    return -1;
  }

  /**
   * Reports the record starting at `start` and resumes on the line after its first line. A bad record
   * costs one physical line: a stray quote that swallowed the lines after it gives them back.
   * Returns where to go on, or -1 when that line break has not arrived yet (the rest is then dropped).
   */
  #recover(buf: string, start: number, out: CsvRow[], reason: CsvRowFailure, message: string): number {
    this.#fail(out, this.#line, reason, message);
    const nl = buf.indexOf("\n", start);
    if (nl === -1) {
      this.#skipping = true;
      return -1;
    }
    this.#line++;
    return nl + 1;
  }

  #fail(out: CsvRow[], line: number, reason: CsvRowFailure, message: string): void {
    out.push({ ok: false, line, reason, message });
  }
}

function countLf(s: string): number {
  let n = 0;
  for (let i = s.indexOf("\n"); i !== -1; i = s.indexOf("\n", i + 1)) n++;
  return n;
}
