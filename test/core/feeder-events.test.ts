import { describe, expect, test } from "bun:test";
import { parseAccounting, recipientOf, safeStringToInt } from "../../src/core/accounting.ts";
import type { TrackingEvent } from "../../src/core/event.ts";
import { parseQueueRecord } from "../../src/core/queue-record.ts";
import { selects, type EventSelection } from "../../src/core/event-selection.ts";
import { toSparkPostEvent } from "../../src/core/sparkpost-event.ts";
import { toWebhookEvent } from "../../src/core/webhook-event.ts";

const click: TrackingEvent = {
  event_id: "1234567890123456789", type: "click", ts: 1578584427123, msg_id: "0000123456789abcdef0", rcpt: "link@example.com",
  target_link_url: "https://example.com/?a=1&b=2", link_name: null, ip: "12.34.56.78", user_agent: "Mozilla/5.0 <x>",
  machine: false, machine_reason: null, first: true,
};

describe("toSparkPostEvent()", () => {
  test("has the original's shape and field order, without geo_ip", () => {
    const line = JSON.stringify(toSparkPostEvent(click, { rcpt: "bob@example.com", "header_x-sp-subaccount-id": "3" }));
    expect(line).toBe(
      '{"msys":{"track_event":{"type":"click","delv_method":"esmtp","event_id":"1234567890123456789","ip_address":"12.34.56.78",' +
        '"message_id":"0000123456789abcdef0","rcpt_to":"bob@example.com","timestamp":"1578584427",' +
        '"target_link_url":"https://example.com/?a=1&b=2","user_agent":"Mozilla/5.0 <x>","subaccount_id":3}}}',
    );
  });
  const cases: { name: string; acct: Record<string, string> | null; rcpt: string; sub: number }[] = [
    { name: "rcpt_to falls back to the link's recipient without accounting", acct: null, rcpt: "link@example.com", sub: 0 },
    { name: "accounting recipient wins over the link's", acct: { rcpt: "acct@example.com" }, rcpt: "acct@example.com", sub: 0 },
    { name: "empty accounting recipient falls back to the link", acct: { rcpt: "", "header_x-sp-subaccount-id": "12" }, rcpt: "link@example.com", sub: 12 },
    { name: "subaccount that is not a number is 0", acct: { "header_x-sp-subaccount-id": "kittens" }, rcpt: "link@example.com", sub: 0 },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const t = toSparkPostEvent(click, c.acct).msys.track_event;
      expect(t.rcpt_to).toBe(c.rcpt);
      expect(t.subaccount_id).toBe(c.sub);
    });
  }
  test("no recipient anywhere gives an empty rcpt_to", () => {
    expect(toSparkPostEvent({ ...click, rcpt: null }, null).msys.track_event.rcpt_to).toBe("");
  });
  test("opens carry an empty target_link_url and no target_link_name", () => {
    const t = toSparkPostEvent({ ...click, type: "open", target_link_url: null, link_name: "x" }, null).msys.track_event;
    expect(t.target_link_url).toBe("");
    expect("target_link_name" in t).toBe(false);
  });
  test("clicks carry target_link_name from the link name, before user_agent", () => {
    const t = toSparkPostEvent({ ...click, link_name: "cta" }, null).msys.track_event;
    expect(Object.keys(t).slice(-4)).toEqual(["target_link_url", "target_link_name", "user_agent", "subaccount_id"]);
    expect(t.target_link_name).toBe("cta");
  });
});

describe("toWebhookEvent()", () => {
  test("carries verdicts, ISO time and the whole accounting entry", () => {
    const w = toWebhookEvent({ ...click, machine: true, machine_reason: "apple-mpp" }, { rcpt: "a@b.c", "header_x-sp-subaccount-id": "7", campaign: "x" });
    expect(w).toMatchObject({ timestamp: "2020-01-09T15:40:27.123Z", rcpt_to: "a@b.c", subaccount_id: 7, machine: true, machine_reason: "apple-mpp", accounting: { campaign: "x" } });
  });
  test("subaccount_id is null without accounting", () => expect(toWebhookEvent(click, null).subaccount_id).toBeNull());
});

describe("parseQueueRecord()", () => {
  test("round-trips a tracker event", () => expect(parseQueueRecord(JSON.stringify(click))).toEqual({ ok: true, event: click }));
  const bad = [
    { name: "truncated JSON", body: JSON.stringify(click).slice(0, 30) },
    { name: "not an object", body: "[1]" },
    { name: "event_id too big", body: JSON.stringify({ ...click, event_id: "9223372036854775808" }) },
    { name: "event_id not decimal", body: JSON.stringify({ ...click, event_id: "12a" }) },
    { name: "unknown type", body: JSON.stringify({ ...click, type: "bounce" }) },
    { name: "ts a string", body: JSON.stringify({ ...click, ts: "1578584427" }) },
    { name: "empty msg_id", body: JSON.stringify({ ...click, msg_id: "" }) },
  ];
  for (const c of bad) test(`rejects ${c.name}`, () => expect(parseQueueRecord(c.body).ok).toBe(false));
});

describe("accounting", () => {
  test("safeStringToInt() follows the original's table", () => {
    expect([ "0123456", "", "     ", "-9876", "kittens"].map(safeStringToInt)).toEqual([123456, 0, 0, -9876, 0]);
  });
  test("parseAccounting() reports a corrupt value instead of throwing", () => {
    expect(parseAccounting('{"header_x-sp-subaccount-id"').ok).toBe(false);
    expect(parseAccounting(null)).toEqual({ ok: true, accounting: null });
  });
  test("recipientOf() prefers accounting", () => expect(recipientOf("l", { rcpt: "a" })).toBe("a"));
});

describe("selects()", () => {
  const cases: { name: string; selection: EventSelection; machine: boolean; first: boolean; out: boolean }[] = [
    { name: "all takes a machine repeat", selection: "all", machine: true, first: false, out: true },
    { name: "human drops a machine event", selection: "human", machine: true, first: true, out: false },
    { name: "human takes a person's repeat", selection: "human", machine: false, first: false, out: true },
    { name: "first drops a repeat", selection: "first", machine: false, first: false, out: false },
    { name: "first takes a machine first", selection: "first", machine: true, first: true, out: true },
    { name: "human-first takes a person's first", selection: "human-first", machine: false, first: true, out: true },
    { name: "human-first drops a machine first", selection: "human-first", machine: true, first: true, out: false },
  ];
  for (const c of cases) test(c.name, () => expect(selects(c.selection, c)).toBe(c.out));
});
