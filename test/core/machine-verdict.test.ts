import { describe, expect, test } from "bun:test";
import { parseAddress } from "../../src/core/cidr-set.ts";
import type { EventType } from "../../src/core/event.ts";
import { builtinMachineRanges, parseRangeText } from "../../src/core/machine-ranges.ts";
import { createMachineClassifier } from "../../src/core/machine-verdict.ts";

const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const iphoneMail = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
const outlook = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)";
const thunderbird = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.5.0";
const residential = "198.51.100.23";

const classify = createMachineClassifier({
  ranges: [...builtinMachineRanges, { reason: "apple-mpp", applies: "opens", source: "test", cidrs: parseRangeText("172.224.226.0/27,GB,GB-EN,London,\n") }],
  fastClickMs: 2000,
});
const hit = (action: EventType, userAgent: string, ip: string | null, opts: { method?: string; since?: number | null } = {}) =>
  classify({ method: opts.method ?? "GET", action, userAgent, address: ip ? parseAddress(ip) : null, msSinceFirstEvent: opts.since ?? null });

describe("createMachineClassifier(): a table of real user agents and addresses", () => {
  test.each([
    { name: "Chrome on Windows from a home address is a person", action: "click", ua: chrome, ip: residential, reason: null },
    { name: "Apple Mail on iPhone (images loaded by the device) is a person", action: "open", ua: iphoneMail, ip: residential, reason: null },
    { name: "Outlook desktop is a person", action: "open", ua: outlook, ip: residential, reason: null },
    { name: "Thunderbird is a person", action: "open", ua: thunderbird, ip: residential, reason: null },
    { name: "Apple MPP: bare Mozilla/5.0 on a pixel", action: "open", ua: "Mozilla/5.0", ip: "104.28.40.1", reason: "apple-mpp" },
    { name: "bare Mozilla/5.0 on a click is just a bot", action: "click", ua: "Mozilla/5.0", ip: residential, reason: "bot-user-agent" },
    { name: "Apple relay egress address (operator list) on a pixel", action: "open", ua: iphoneMail, ip: "172.224.226.5", reason: "apple-mpp" },
    { name: "Apple relay egress address on a click is a person using Private Relay", action: "click", ua: iphoneMail, ip: "172.224.226.5", reason: null },
    { name: "Gmail image proxy by user agent", action: "open", ua: "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", ip: "66.249.84.10", reason: "google-proxy" },
    { name: "Gmail pre-open fetcher's fixed agent", action: "open", ua: "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0", ip: residential, reason: "google-proxy" },
    { name: "a pixel from Google's mail netblocks", action: "open", ua: chrome, ip: "66.102.8.3", reason: "google-proxy" },
    { name: "a click from Google's netblocks is not judged by them", action: "click", ua: chrome, ip: "66.102.8.3", reason: null },
    { name: "Yahoo mail proxy", action: "open", ua: "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", ip: "98.137.1.1", reason: "yahoo-proxy" },
    { name: "a click from Exchange Online Protection (Safe Links)", action: "click", ua: chrome, ip: "40.107.22.33", reason: "microsoft-safelinks" },
    { name: "a pixel from EOP over IPv6", action: "open", ua: chrome, ip: "2a01:111:f400:7e1a::1", reason: "microsoft-safelinks" },
    { name: "Barracuda link protection", action: "click", ua: "Barracuda Sentinel (EE)", ip: residential, reason: "security-scanner" },
    { name: "Mimecast", action: "click", ua: "Mimecast Safe Links", ip: residential, reason: "security-scanner" },
    { name: "curl", action: "click", ua: "curl/8.5.0", ip: residential, reason: "bot-user-agent" },
    { name: "python-requests", action: "open", ua: "python-requests/2.31.0", ip: residential, reason: "bot-user-agent" },
    { name: "Googlebot", action: "click", ua: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", ip: residential, reason: "bot-user-agent" },
    { name: "no user agent at all", action: "click", ua: "", ip: residential, reason: "bot-user-agent" },
  ] as const)("$name", ({ action, ua, ip, reason }) => {
    const verdict = hit(action, ua, ip);
    expect(verdict.reason).toBe(reason);
    expect(verdict.machine).toBe(reason !== null);
  });
});

describe("createMachineClassifier(): request shape and timing", () => {
  test("a HEAD request is a machine", () => {
    expect(hit("open", chrome, residential, { method: "HEAD" })).toEqual({ machine: true, reason: "head-request" });
  });
  test("a click 500 ms after the message's first event is a fast click", () => {
    expect(hit("click", chrome, residential, { since: 500 })).toEqual({ machine: true, reason: "fast-click" });
  });
  test("a click 5 s after the first event is a person", () => {
    expect(hit("click", chrome, residential, { since: 5000 }).machine).toBe(false);
  });
  test("the first event itself (no earlier one) is never a fast click", () => {
    expect(hit("click", chrome, residential, { since: null }).machine).toBe(false);
  });
  test("an open soon after the first event is not judged by timing", () => {
    expect(hit("open", chrome, residential, { since: 10 }).machine).toBe(false);
  });
  test("fastClickMs 0 turns the timing rule off", () => {
    const off = createMachineClassifier({ fastClickMs: 0 });
    expect(off({ method: "GET", action: "click", userAgent: chrome, address: null, msSinceFirstEvent: 1 }).machine).toBe(false);
  });
});

test("parseRangeText() reads Apple's CSV layout, plain lists and comments", () => {
  expect(parseRangeText("# list\n\n172.224.226.0/27,GB,GB-EN,London,\r\n2a02:26f7:b3c0:4000::/64,GB,GB-EN,London,\n10.0.0.0/8\n")).toEqual([
    "172.224.226.0/27", "2a02:26f7:b3c0:4000::/64", "10.0.0.0/8",
  ]);
});
