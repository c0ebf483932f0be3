/** Test helpers: split a message into its MIME pieces, decode parts, canonicalise HTML trees. */
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Joiner, Splitter } from "@zone-eu/mailsplit";
import * as libqp from "libqp";
import { parse, type DefaultTreeAdapterMap } from "parse5";
import { CONTROL_ATTRIBUTES } from "../../src/core/href-policy.ts";
import { INITIAL_OPEN_STYLE, escapeAttribute } from "../../src/core/pixel.ts";

/** One piece of a split message, in order: a node's header block, its body, or boundary/preamble data. */
export interface Piece {
  kind: "headers" | "body" | "data";
  bytes: Buffer;
  contentType: string;
  encoding: string;
  charset: string;
  disposition: string;
  root: boolean;
}

interface SplitNode {
  type: "node";
  root: boolean;
  contentType: string | false;
  charset: string | false;
  encoding: string | false;
  disposition: string | false;
  getHeaders(): Buffer;
}

/** Splits a message with mailsplit (message/rfc822 bodies left whole, as the rewriter does). */
export async function splitMessage(bytes: Buffer): Promise<Piece[]> {
  const pieces: Piece[] = [];
  let current: Piece | null = null;
  await pipeline(
    Readable.from([bytes]),
    new Splitter({ ignoreEmbedded: true }),
    new Writable({
      objectMode: true,
      write(chunk: SplitNode | { type: "body" | "data"; value: Buffer }, _enc, cb) {
        if (chunk.type === "node") {
          const info = {
            contentType: chunk.contentType || "",
            encoding: chunk.encoding || "",
            charset: chunk.charset || "",
            disposition: chunk.disposition || "",
            root: chunk.root,
          };
          pieces.push({ kind: "headers", bytes: chunk.getHeaders(), ...info });
          current = { kind: "body", bytes: Buffer.alloc(0), ...info };
          pieces.push(current);
        } else if (chunk.type === "body" && current) {
          current.bytes = Buffer.concat([current.bytes, chunk.value]);
        } else {
          current = null;
          pieces.push({ kind: "data", bytes: chunk.value, contentType: "", encoding: "", charset: "", disposition: "", root: false });
        }
        cb();
      },
    }),
  );
  return pieces;
}

/** Splitter → Joiner with nothing in between. */
export async function splitJoin(bytes: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from([bytes]),
    new Splitter({ ignoreEmbedded: true }),
    new Joiner(),
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        out.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

/** Decodes a part body to text (transfer encoding, then charset; lenient). */
export function decodePart(piece: Piece): string {
  let bytes = piece.bytes;
  if (piece.encoding === "base64") bytes = Buffer.from(bytes.toString("latin1").replace(/\s+/g, ""), "base64");
  else if (piece.encoding === "quoted-printable") bytes = libqp.decode(bytes.toString("latin1"));
  let label = piece.charset || "utf-8";
  if (/^(us-)?ascii$/i.test(label)) label = "utf-8";
  try {
    return new TextDecoder(label).decode(bytes);
  } catch {
    return new TextDecoder("utf-8").decode(bytes); // a label the runtime does not know
  }
}

type Node = DefaultTreeAdapterMap["node"];
type Element = DefaultTreeAdapterMap["element"];

/** How to read tracked links back: prefix of tracked URLs and a decoder returning the target. */
export interface Untracker {
  prefix: string;
  target(url: string): string;
}

const EDGE = /^[\u0000-\u0020]+|[\u0000-\u0020]+$/g;
const TAB_NL = /[\t\n\r]/g;

/**
 * A canonical form of an HTML document's parse5 tree in which a rewrite and its input compare equal:
 * tracked hrefs read back to their targets, pixels and control attributes dropped, whitespace-only
 * text dropped and other whitespace collapsed, tracked URLs inside comments read back.
 */
export function canonicalTree(html: string, untrack: Untracker): unknown {
  const doc = parse(html);
  const replaceUrls = (text: string) =>
    text.replace(new RegExp(`${untrack.prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}[A-Za-z0-9_.=-]*[A-Za-z0-9_=-]`, "g"), (url) => escapeAttribute(untrack.target(url)));
  function isPixel(node: Node): boolean {
    if (!("tagName" in node)) return false;
    const el = node as Element;
    const src = el.attrs.find((a) => a.name === "src")?.value ?? "";
    if (el.tagName === "img" && src.startsWith(untrack.prefix)) return true;
    const style = el.attrs.find((a) => a.name === "style")?.value;
    return el.tagName === "div" && style === INITIAL_OPEN_STYLE && el.childNodes.length === 1 && isPixel(el.childNodes[0]!);
  }
  function walk(node: Node): unknown[] {
    const out: unknown[] = [];
    const children = "childNodes" in node ? node.childNodes : [];
    let text = "";
    const flush = () => {
      const t = text.replace(/\s+/g, " ").trim();
      if (t) out.push(t);
      text = "";
    };
    for (const child of children) {
      if (child.nodeName === "#text") {
        text += (child as DefaultTreeAdapterMap["textNode"]).value;
        continue;
      }
      if (isPixel(child)) continue;
      flush();
      if (child.nodeName === "#comment") out.push({ comment: replaceUrls((child as DefaultTreeAdapterMap["commentNode"]).data) });
      else if (child.nodeName === "#documentType") out.push({ doctype: (child as DefaultTreeAdapterMap["documentType"]).name });
      else {
        const el = child as Element;
        const attrs = el.attrs
          .filter((a) => !CONTROL_ATTRIBUTES.has(a.name))
          .map((a) => {
            let value = a.value;
            if (a.name === "href") {
              value = value.startsWith(untrack.prefix) ? untrack.target(value) : value.replace(EDGE, "").replace(TAB_NL, "").replace(/^(https?)\+notrack:/i, "$1:");
            }
            return `${a.name}=${value}`;
          });
        const content = el.tagName === "template" ? walk((el as DefaultTreeAdapterMap["template"]).content) : [];
        out.push({ tag: el.tagName, attrs, children: [...walk(el), ...content] });
      }
    }
    flush();
    return out;
  }
  return walk(doc);
}
