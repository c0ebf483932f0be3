import { describe, expect, test } from "bun:test";
import { parseMsysApi, parseMtatrackOptions } from "../../src/core/tracking-controls.ts";

describe("parseMtatrackOptions()", () => {
  const cases = [
    { name: "off turns everything off", values: ["off"], controls: { open: false, initialOpen: false, click: false, text: false } },
    { name: "pairs with , and ;", values: ["click=off; initial_open=yes, text=1"], controls: { click: false, initialOpen: true, text: true } },
    { name: "a bare key means on", values: ["open"], controls: { open: true } },
    { name: "later headers win", values: ["click=on", "click=off"], controls: { click: false } },
  ];
  test.each(cases)("$name", ({ values, controls }) => {
    expect(parseMtatrackOptions(values)).toEqual({ controls, problems: [] });
  });
  test("unknown items are reported, not applied", () => {
    const parsed = parseMtatrackOptions(["bogus=1, click=maybe"]);
    expect(parsed.controls).toEqual({});
    expect(parsed.problems).toHaveLength(2);
  });
});

describe("parseMsysApi()", () => {
  test("reads open_tracking, click_tracking and initial_open", () => {
    expect(parseMsysApi(['{"campaign_id":"x","options":{"open_tracking":false,"click_tracking":true,"initial_open":true}}']).controls).toEqual({
      open: false,
      click: true,
      initialOpen: true,
    });
  });
  test("reports JSON it cannot parse", () => {
    expect(parseMsysApi(["{nope"]).problems).toHaveLength(1);
  });
});
