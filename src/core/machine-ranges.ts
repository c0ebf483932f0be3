/**
 * @module Address ranges that ship with the binary, each with the machine reason it implies and where the
 * list came from. Only ranges whose owner publishes them for this purpose (or for its mail servers) are
 * here; anything broader would flag people. Operators add more (Apple's relay egress list above all) with
 * `--machine-ranges REASON=FILE`.
 */
import type { MachineReason } from "./event.ts";

export interface MachineRangeList {
  readonly reason: MachineReason;
  /** Which hits the ranges judge: a proxy that only fetches images says nothing about a click. */
  readonly applies: "opens" | "all";
  /** Where the list comes from, so an operator can refresh it. */
  readonly source: string;
  readonly cidrs: readonly string[];
}

/**
 * Google's mail infrastructure, from which Gmail's image proxy (GoogleImageProxy, ggpht.com) fetches.
 * Source: Google's SPF netblocks, `dig TXT _netblocks.google.com` / `_netblocks2` / `_netblocks3`
 * (the ranges behind `include:_spf.google.com`). Left out on purpose: 35.190.247.0/24, 35.191.0.0/16 and
 * 130.211.0.0/22, which are Google Cloud load-balancer ranges that customers' traffic can come from.
 */
const google: MachineRangeList = {
  reason: "google-proxy",
  applies: "opens",
  source: "Google SPF netblocks (_netblocks.google.com, _netblocks2, _netblocks3)",
  cidrs: [
    "64.233.160.0/19", "66.102.0.0/20", "66.249.80.0/20", "72.14.192.0/18", "74.125.0.0/16", "108.177.8.0/21",
    "173.194.0.0/16", "209.85.128.0/17", "216.58.192.0/19", "216.239.32.0/19",
    "172.217.0.0/19", "172.217.32.0/20", "172.217.128.0/19", "172.217.160.0/20", "172.217.192.0/19",
    "172.253.56.0/21", "172.253.112.0/20", "108.177.96.0/19",
    "2001:4860:4000::/36", "2404:6800:4000::/36", "2607:f8b0:4000::/36", "2800:3f0:4000::/36",
    "2a00:1450:4000::/36", "2c0f:fb50:4000::/36",
  ],
};

/**
 * Exchange Online Protection, which fetches links for Safe Links and attachment/URL detonation before the
 * recipient sees the message (gophish#973 saw Safe Links GETs from these). Source: Microsoft's SPF record
 * `spf.protection.outlook.com` (the same blocks Microsoft lists for EOP in "Microsoft 365 URLs and IP
 * address ranges"). Safe Links also detonates from general Azure addresses, which no list can cover
 * without flagging Azure-hosted users; the fast-click rule catches most of those.
 */
const microsoft: MachineRangeList = {
  reason: "microsoft-safelinks",
  applies: "all",
  source: "Microsoft SPF (spf.protection.outlook.com) = Exchange Online Protection ranges",
  cidrs: [
    "40.92.0.0/15", "40.107.0.0/16", "52.100.0.0/15", "52.102.0.0/16", "52.103.0.0/17", "104.47.0.0/17",
    "2a01:111:f400::/48", "2a01:111:f403::/49", "2a01:111:f403:8000::/51", "2a01:111:f403:c000::/51",
    "2a01:111:f403:f000::/52",
  ],
};

/**
 * The lists compiled in. Apple is absent on purpose: Mail Privacy Protection fetches through the iCloud
 * Private Relay egress addresses, a list of about 300,000 prefixes that Apple publishes and changes
 * (https://mask-api.icloud.com/egress-ip-ranges.csv); load it with `--machine-ranges apple-mpp=FILE`.
 * The bare `Mozilla/5.0` user agent of MPP fetches is recognised without it.
 */
export const builtinMachineRanges: readonly MachineRangeList[] = [google, microsoft];

/**
 * The prefixes of a range file: one per line, the first comma-separated field (so Apple's
 * `egress-ip-ranges.csv`, `prefix,country,region,city,`, loads as it is published); `#` comments and blank
 * lines are skipped. Entries are validated when the set is built.
 *
 * @example
 * parseRangeText("# relay\n172.224.226.0/27,GB,GB-EN,London,\n"); // ["172.224.226.0/27"]
 */
export function parseRangeText(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const s = line.trim();
    if (!s || s.startsWith("#")) continue;
    const comma = s.indexOf(",");
    out.push((comma < 0 ? s : s.slice(0, comma)).trim());
  }
  return out;
}
