/** @module Accepts the original Go tools' single-dash long flags (`-in_hostport :8888`) alongside `--in-hostport`. */

/**
 * Rewrites Go-style single-dash long flags to the double-dash form citty parses.
 * A lone letter (`-h`) and negative numbers are left alone; everything after `--` is data.
 * @example normalizeGoFlags(["-tracking_url", "http://x"]) // ["--tracking_url", "http://x"]
 */
export function normalizeGoFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  let passthrough = false;
  for (const arg of argv) {
    if (passthrough || arg === "--") {
      passthrough = true;
      out.push(arg);
      continue;
    }
    const isGoLongFlag = /^-[A-Za-z][A-Za-z0-9_-]+(=.*)?$/s.test(arg);
    out.push(isGoLongFlag ? `-${arg}` : arg);
  }
  return out;
}
