import { describe, expect, test } from "bun:test";
import { createUrlMemo, decideHref, linkNameOf, listUnsubscribeTargets, optedOut, trackingHostOf, type HrefPolicyContext } from "../../src/core/href-policy.ts";

const ctx: HrefPolicyContext = {
  trackingHost: "t.example.net",
  unsubscribeTargets: listUnsubscribeTargets(["<mailto:u@example.com>, <https://lists.example.org/u/1?l=a>"]),
};
const none = new Map<string, string>();

describe("decideHref()", () => {
  const cases: { name: string; href: string; attrs?: Record<string, string>; want: string }[] = [
    { name: "https link", href: "https://shop.example.com/a?b=1&c=2", want: "track" },
    { name: "http link, upper-case scheme", href: "HTTP://shop.example.com/", want: "track" },
    { name: "surrounding whitespace is trimmed", href: "  https://shop.example.com/x \n", want: "track" },
    { name: "mailto", href: "mailto:a@example.com", want: "scheme" },
    { name: "tel", href: "tel:+15550100", want: "scheme" },
    { name: "sms", href: "sms:+15550100", want: "scheme" },
    { name: "javascript", href: "javascript:void(0)", want: "scheme" },
    { name: "data", href: "data:text/plain,x", want: "scheme" },
    { name: "ftp", href: "ftp://files.example.com/", want: "scheme" },
    { name: "fragment", href: "#top", want: "fragment" },
    { name: "relative", href: "/path", want: "relative" },
    { name: "protocol-relative", href: "//cdn.example.com/x", want: "relative" },
    { name: "merge tag left unexpanded", href: "*|ARCHIVE|*", want: "relative" },
    { name: "empty", href: "", want: "empty" },
    { name: "unparseable http", href: "https://exa mple.com:99999/", want: "invalid" },
    { name: "already on the tracking domain", href: "https://t.example.net/2.k1.x.y", want: "tracking-domain" },
    { name: "List-Unsubscribe target", href: "https://lists.example.org/u/1?l=a", want: "unsubscribe" },
    { name: "unsubscribe-looking path", href: "https://www.example.com/Unsubscribe?u=1", want: "unsubscribe" },
    { name: "opt-out-looking query", href: "https://www.example.com/prefs?action=opt-out", want: "unsubscribe" },
    { name: "rel=unsubscribe", href: "https://www.example.com/bye", attrs: { rel: "nofollow unsubscribe" }, want: "unsubscribe" },
    { name: "SparkPost unsubscribe marker", href: "https://www.example.com/bye", attrs: { "data-msys-unsubscribe": "1" }, want: "unsubscribe" },
    { name: "data-no-track", href: "https://a.example.com/", attrs: { "data-no-track": "" }, want: "opt-out" },
    { name: "data-msys-clicktrack=0", href: "https://a.example.com/", attrs: { "data-msys-clicktrack": "0" }, want: "opt-out" },
    { name: "data-msys-clicktrack=1 still tracks", href: "https://a.example.com/", attrs: { "data-msys-clicktrack": "1" }, want: "track" },
    { name: "clicktracking=off", href: "https://a.example.com/", attrs: { clicktracking: "OFF" }, want: "opt-out" },
    { name: "ses:no-track", href: "https://a.example.com/", attrs: { "ses:no-track": "" }, want: "opt-out" },
    { name: "data-mautic-disable-tracking", href: "https://a.example.com/", attrs: { "data-mautic-disable-tracking": "true" }, want: "opt-out" },
    { name: "Postal +notrack", href: "https+notrack://a.example.com/x", want: "opt-out" },
    { name: "too long", href: `https://a.example.com/${"x".repeat(3000)}`, want: "too-long" },
  ];
  test.each(cases)("$name", ({ href, attrs, want }) => {
    const decision = decideHref(href, new Map(Object.entries(attrs ?? {})), ctx);
    expect(decision.track ? "track" : decision.reason).toBe(want);
  });

  test("decideHref() with a URL memo decides every case as without one, on a cold and a warm memo", () => {
    const memoCtx: HrefPolicyContext = { ...ctx, urlMemo: createUrlMemo() };
    for (let pass = 0; pass < 2; pass++) {
      for (const { href, attrs } of cases) {
        const map = new Map(Object.entries(attrs ?? {}));
        expect(decideHref(href, map, memoCtx)).toEqual(decideHref(href, map, ctx));
      }
    }
  });

  test("decideHref() memo is per href only: the message's unsubscribe targets and the attributes still decide", () => {
    const memoCtx: HrefPolicyContext = { ...ctx, urlMemo: createUrlMemo() };
    const href = "https://lists.example.org/u/1?l=a";
    expect(decideHref(href, none, { ...memoCtx, unsubscribeTargets: new Set() }).track).toBe(true);
    expect(decideHref(href, none, memoCtx)).toEqual({ track: false, reason: "unsubscribe" });
    expect(decideHref(href, new Map([["data-no-track", ""]]), { ...memoCtx, unsubscribeTargets: new Set() })).toEqual({ track: false, reason: "opt-out" });
  });

  test("createUrlMemo() stays within maxEntries", () => {
    const memo = createUrlMemo({ maxEntries: 2 });
    const memoCtx: HrefPolicyContext = { ...ctx, urlMemo: memo };
    for (let i = 0; i < 5; i++) decideHref(`https://a.example.com/${i}`, none, memoCtx);
    expect([0, 1, 2, 3, 4].filter((i) => memo.get(`https://a.example.com/${i}`) !== undefined)).toEqual([4]);
  });

  test("decideHref() keeps the target as written, minus edge whitespace and tabs/newlines", () => {
    expect(decideHref(" https://a.example.com/p\tq\n?x=1 ", none, ctx)).toEqual({ track: true, target: "https://a.example.com/pq?x=1", linkName: null });
  });

  test("decideHref() strips +notrack so the link still works", () => {
    expect(decideHref("https+notrack://a.example.com/x", none, ctx)).toEqual({ track: false, reason: "opt-out", rewriteTo: "https://a.example.com/x" });
  });
});

describe("link attributes", () => {
  test("linkNameOf() prefers data-link-name, then data-msys-linkname", () => {
    expect(linkNameOf(new Map([["data-msys-linkname", "b"], ["data-link-name", " a "]]))).toBe("a");
    expect(linkNameOf(new Map([["data-msys-linkname", "b"]]))).toBe("b");
    expect(linkNameOf(new Map([["data-link-name", "  "]]))).toBeNull();
  });
  test("optedOut() ignores values that mean 'keep tracking'", () => {
    expect(optedOut(new Map([["data-mautic-disable-tracking", "false"]]))).toBe(false);
    expect(optedOut(new Map([["clicktracking", "on"]]))).toBe(false);
  });
  test("listUnsubscribeTargets() keeps http(s) URIs only, normalised", () => {
    expect([...listUnsubscribeTargets(["<mailto:x@y>,\r\n <HTTPS://L.Example.org/u?a=1>", "garbage"])]).toEqual(["https://l.example.org/u?a=1"]);
  });
  test("trackingHostOf() gives host and port", () => {
    expect(trackingHostOf("https://t.example.net:8443/p")).toBe("t.example.net:8443");
    expect(trackingHostOf("not a url")).toBe("");
  });
});
