/**
 * @module Optional plain-text link tracking: linkify-it finds the links, only explicit http(s) URLs are
 * candidates, and the same href policy as HTML decides (tracking domain, List-Unsubscribe targets, …).
 */
import { LinkifyIt } from "linkify-it";
import { decideHref, type HrefPolicyContext } from "../core/href-policy.ts";

/** The rewritten text and what was done. */
export interface TextRewriteResult {
  text: string;
  changed: boolean;
  links: number;
  skipped: number;
}

const linkify = new LinkifyIt({ fuzzyLink: false, fuzzyEmail: false, fuzzyIP: false });
const NO_ATTRS: ReadonlyMap<string, string> = new Map();

/**
 * Replaces tracked http(s) links in decoded text. `clickUrl` returns null when no link can be made.
 * @example rewriteText("see https://x.example/a.", policy, clickUrl).text // "see https://t.example/2.k… ."
 */
export function rewriteText(
  text: string,
  policy: HrefPolicyContext,
  clickUrl: (target: string) => string | null,
): TextRewriteResult {
  const matches = linkify.match(text);
  if (!matches) return { text, changed: false, links: 0, skipped: 0 };
  let out = "";
  let last = 0;
  let links = 0;
  let skipped = 0;
  for (const m of matches) {
    if (m.schema !== "http:" && m.schema !== "https:") continue;
    const decision = decideHref(m.raw, NO_ATTRS, policy);
    const url = decision.track ? clickUrl(decision.target) : null;
    if (url === null) {
      skipped++;
      continue;
    }
    out += text.slice(last, m.index) + url;
    last = m.lastIndex;
    links++;
  }
  if (links === 0) return { text, changed: false, links, skipped };
  out += text.slice(last);
  return { text: out, changed: true, links, skipped };
}
