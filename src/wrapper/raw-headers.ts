/**
 * @module Edits a header block as raw bytes (a latin1 "binary" string), so that every header the rewriter
 * does not touch keeps its bytes, order, case and folding. mailsplit's own header editor rebuilds every line
 * once anything changes, which is why the rewriter does not use it.
 */

/** One header field: its lower-case name, its unfolded value, and its span including folded lines. */
export interface RawField {
  name: string;
  value: string;
  start: number;
  end: number;
}

/** The header block split into fields, plus where the terminating blank line starts. */
export interface RawHeaderBlock {
  text: string;
  fields: RawField[];
  /** Offset of the blank line that ends the block (or text.length when there is none). */
  bodyStart: number;
  /** Line ending used by the block: "\r\n" unless its first line ends in a bare "\n". */
  eol: string;
}

/** Splits a header block (as `node.getHeaders()` gives it) into fields. Lines that are not fields are kept as they are. */
export function parseHeaderBlock(text: string): RawHeaderBlock {
  const fields: RawField[] = [];
  const firstLf = text.indexOf("\n");
  const eol = firstLf > 0 && text.charCodeAt(firstLf - 1) !== 13 ? "\n" : "\r\n";
  let pos = 0;
  let bodyStart = text.length;
  while (pos < text.length) {
    let lineEnd = text.indexOf("\n", pos);
    lineEnd = lineEnd < 0 ? text.length : lineEnd + 1;
    const line = text.slice(pos, lineEnd);
    if (line === "\r\n" || line === "\n") {
      bodyStart = pos;
      break;
    }
    const first = text.charCodeAt(pos);
    if ((first === 32 || first === 9) && fields.length > 0) {
      const last = fields[fields.length - 1]!;
      last.end = lineEnd;
    } else {
      const colon = line.indexOf(":");
      fields.push({ name: colon > 0 ? line.slice(0, colon).trim().toLowerCase() : "", value: "", start: pos, end: lineEnd });
    }
    pos = lineEnd;
  }
  for (const f of fields) {
    const raw = text.slice(f.start, f.end);
    const colon = raw.indexOf(":");
    f.value = colon < 0 ? "" : raw.slice(colon + 1).replace(/\r?\n(?=[ \t])/g, "").replace(/\r?\n$/, "").trim();
  }
  return { text, fields, bodyStart, eol };
}

/** Values of every field with this (lower-case) name, in order. */
export function fieldValues(block: RawHeaderBlock, name: string): string[] {
  return block.fields.filter((f) => f.name === name).map((f) => f.value);
}

/**
 * Returns the block with fields removed (by lower-case name), fields replaced (the first occurrence is
 * replaced in place, later ones removed, a missing one is added before the blank line), and lines added on top.
 */
export function editHeaderBlock(
  block: RawHeaderBlock,
  edits: { remove?: ReadonlySet<string>; replace?: ReadonlyMap<string, string>; prepend?: readonly string[] },
): string {
  const { text, fields, eol } = block;
  const remove = edits.remove ?? new Set<string>();
  const replace = edits.replace ?? new Map<string, string>();
  const done = new Set<string>();
  let out = (edits.prepend ?? []).map((line) => line + eol).join("");
  let last = 0;
  for (const f of fields) {
    const replaced = replace.get(f.name);
    if (!remove.has(f.name) && replaced === undefined) continue;
    out += text.slice(last, f.start);
    if (replaced !== undefined && !done.has(f.name)) {
      out += replaced + eol;
      done.add(f.name);
    }
    last = f.end;
  }
  out += text.slice(last, block.bodyStart);
  for (const [name, line] of replace) if (!done.has(name)) out += line + eol;
  out += text.slice(block.bodyStart);
  return out;
}
