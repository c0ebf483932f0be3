/**
 * @module Machine or person: the tracker's verdict on one hit, with the reason. Events are flagged, never
 * dropped (peers.md §3.3), so a wrong verdict costs a mislabel, not data; the rules lean to precision.
 */
import { isbot } from "isbot";
import { createCidrSet, type CidrSet, type ParsedAddress } from "./cidr-set.ts";
import type { EventType, MachineReason } from "./event.ts";
import type { MachineRangeList } from "./machine-ranges.ts";

/** What the classifier looks at for one hit. */
export interface HitFacts {
  method: string;
  action: EventType;
  userAgent: string;
  /** The full client address (before any privacy truncation); null when unknown. */
  address: ParsedAddress | null;
  /** Milliseconds since this message's first event, when an earlier event is known; else null. */
  msSinceFirstEvent: number | null;
}

export interface MachineVerdict {
  machine: boolean;
  reason: MachineReason | null;
}

export interface MachineClassifierOptions {
  /** Address ranges with the reason they imply (the built-ins plus operator files). @default [] */
  ranges?: readonly MachineRangeList[];
  /** A click this soon after the message's first event is a scanner's; 0 disables. @default 2000 */
  fastClickMs?: number;
}

export type MachineClassifier = (facts: HitFacts) => MachineVerdict;

/**
 * User-agent rules, most specific first. Sources: Gmail's image proxy announces itself
 * (`… (via ggpht.com GoogleImageProxy)`); Yahoo's as `YahooMailProxy`; Gmail's pre-open fetcher keeps
 * a fixed, impossible `Chrome/42.0.2311.135 … Edge/12.246` string (Mautic PR #10245, Keila's list); the
 * security gateways that follow links name themselves (mautic#9798, gophish#973/#2115, resend-node#901).
 */
const agentRules: readonly [RegExp, MachineReason][] = [
  [/GoogleImageProxy|via ggpht\.com/i, "google-proxy"],
  [/Chrome\/42\.0\.2311\.135.*Edge\/12\.246/, "google-proxy"],
  [/YahooMailProxy/i, "yahoo-proxy"],
  [/Barracuda|Mimecast|Proofpoint|Trend ?Micro|Symantec|Forcepoint|Sophos|FireEye|Trellix|IronPort|Zscaler|Fortinet|FortiGuard|Cloudmark|SpamTitan|Check ?Point|Hornet ?Security|urlscan|VirusTotal/i, "security-scanner"],
];

const human: MachineVerdict = Object.freeze({ machine: false, reason: null });

/**
 * Builds the classifier. Order of the checks: HEAD; named proxies and scanners by user agent; published
 * address ranges; Apple MPP's bare `Mozilla/5.0` on a pixel; any other bot user agent (isbot) or none at
 * all; finally a click within `fastClickMs` of the message's first event.
 *
 * @example
 * const classify = createMachineClassifier({ ranges: builtinMachineRanges });
 * classify({ method: "GET", action: "open", userAgent: "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
 *   address: null, msSinceFirstEvent: null }); // { machine: true, reason: "yahoo-proxy" }
 */
export function createMachineClassifier({ ranges = [], fastClickMs = 2000 }: MachineClassifierOptions = {}): MachineClassifier {
  const sets: { reason: MachineReason; opensOnly: boolean; set: CidrSet }[] = ranges.map((r) => ({
    reason: r.reason,
    opensOnly: r.applies === "opens",
    set: createCidrSet(r.cidrs),
  }));
  // User agents repeat heavily (a handful of mail clients and proxies), and isbot's pattern is large:
  // remember the agent-only part of the verdict. Bounded by clearing, which is cheap and good enough.
  const agentCache = new Map<string, MachineReason | null>();
  const byAgent = (ua: string): MachineReason | null => {
    let reason = agentCache.get(ua);
    if (reason !== undefined) return reason;
    reason = agentReason(ua);
    if (agentCache.size >= 4096) agentCache.clear();
    agentCache.set(ua, reason);
    return reason;
  };
  return function classifyHit(facts) {
    if (facts.method === "HEAD") return { machine: true, reason: "head-request" };
    const isOpen = facts.action !== "click";
    const ua = facts.userAgent.trim();
    const named = byAgent(ua);
    if (named !== null && named !== "bot-user-agent" && named !== "apple-mpp") return { machine: true, reason: named };
    if (facts.address) {
      for (const s of sets) {
        if ((isOpen || !s.opensOnly) && s.set.has(facts.address)) return { machine: true, reason: s.reason };
      }
    }
    // MPP fetches with exactly "Mozilla/5.0" (SocketLabs', ClickDimensions' and SendGrid's MPP notes);
    // on a click the same string is just a bare bot agent.
    if (named === "apple-mpp") return { machine: true, reason: isOpen ? "apple-mpp" : "bot-user-agent" };
    if (named === "bot-user-agent") return { machine: true, reason: "bot-user-agent" };
    if (!isOpen && fastClickMs > 0 && facts.msSinceFirstEvent !== null && facts.msSinceFirstEvent < fastClickMs) {
      return { machine: true, reason: "fast-click" };
    }
    return human;
  };
}

function agentReason(ua: string): MachineReason | null {
  if (ua === "") return "bot-user-agent"; // every mail client and browser sends one
  if (ua === "Mozilla/5.0") return "apple-mpp";
  for (const [re, reason] of agentRules) if (re.test(ua)) return reason;
  return isbot(ua) ? "bot-user-agent" : null;
}
