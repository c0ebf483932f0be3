/**
 * @module The open-tracking pixels, byte for byte as the original writes them (reference §6.5), except
 * that the trailing line break follows the part's own line endings (a bare LF in a CRLF message is refused
 * by strict MTAs).
 */

/** The inline style of the original's initial_open wrapper `<div>`. */
export const INITIAL_OPEN_STYLE =
  "color:transparent;visibility:hidden;opacity:0;font-size:0px;border:0;max-height:1px;width:1px;margin:0px;padding:0px;border-width:0px!important;display:none!important;line-height:0px!important;";

/** Escapes a URL for a double-quoted attribute value. */
export function escapeAttribute(value: string): string {
  if (!/[&"<>]/.test(value)) return value; // tracked URLs never need it: the test is cheaper than the replace
  return value.replace(/[&"<>]/g, (c) => (c === "&" ? "&amp;" : c === '"' ? "&quot;" : c === "<" ? "&lt;" : "&gt;"));
}

/**
 * The initial_open pixel, inserted right after `<body…>`.
 * @example initialOpenPixel("https://t.example/2.k.x.y") // '<div style="color:transparent;…"><img border="0" width="1" height="1" src="https://t.example/2.k.x.y"/></div>\n'
 */
export function initialOpenPixel(src: string, eol = "\n"): string {
  return `<div style="${INITIAL_OPEN_STYLE}"><img border="0" width="1" height="1" src="${escapeAttribute(src)}"/></div>${eol}`;
}

/**
 * The open pixel, inserted right before `</body>` (or at the end of HTML without one).
 * @example openPixel("https://t.example/2.k.x.y") // '<img border="0" width="1" height="1" alt="" src="https://t.example/2.k.x.y">\n'
 */
export function openPixel(src: string, eol = "\n"): string {
  return `<img border="0" width="1" height="1" alt="" src="${escapeAttribute(src)}">${eol}`;
}
