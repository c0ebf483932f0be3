import { describe, expect, test } from "bun:test";
import { repeatedFlag, resolveFeederConfig } from "../../src/core/feeder-config.ts";
import { formatSignatureHeader, parseSignatureHeader, signedPayload } from "../../src/core/webhook-signature.ts";

describe("resolveFeederConfig()", () => {
  test("defaults to SparkPost with the original's environment", () => {
    const c = resolveFeederConfig({}, { SPARKPOST_API_KEY_INGEST: "k" });
    expect(c.sinks).toEqual([{ kind: "sparkpost", name: "sparkpost", url: "https://api.sparkpost.com/api/v1/ingest/events", apiKey: "k",
      limits: { maxBytes: 5242880, maxCount: 100000, maxAgeMs: 30000 }, events: "all" }]);
    expect(Object.isFrozen(c)).toBe(true);
  });
  test("missing key stops with the original's message", () => {
    expect(() => resolveFeederConfig({}, {})).toThrow("SPARKPOST_API_KEY_INGEST not set - stopping");
  });
  test("sinks follow their settings; flags override batch limits", () => {
    const c = resolveFeederConfig({ "webhook-url": "https://h.example/x", "webhook-header": ["X-A: 1"], file: "-", "batch-size": "10", "batch-age": "500ms" }, { MTATRACK_WEBHOOK_SECRET: "s" });
    expect(c.sinks.map((s) => s.kind)).toEqual(["webhook", "file"]);
    expect(c.sinks[0]).toMatchObject({ secret: "s", headers: [["X-A", "1"]], limits: { maxCount: 10, maxAgeMs: 500 } });
  });
  test("SPARKPOST_HOST_INGEST keeps http:// for a local endpoint", () => {
    const c = resolveFeederConfig({ sink: "sparkpost" }, { SPARKPOST_API_KEY_INGEST: "k", SPARKPOST_HOST_INGEST: "http://127.0.0.1:9/api/v1/" });
    expect(c.sinks[0]).toMatchObject({ url: "http://127.0.0.1:9/api/v1/ingest/events" });
  });
  const bad = [
    { name: "unknown sink", args: { sink: "kafka" } },
    { name: "webhook without URL", args: { sink: "webhook" } },
    { name: "webhook URL not http", args: { "webhook-url": "ftp://x" } },
    { name: "bad header", args: { "webhook-url": "http://x", "webhook-header": ["nocolon"] } },
    { name: "batch bytes over SparkPost's limit", args: { "batch-bytes": "6M" }, env: { SPARKPOST_API_KEY_INGEST: "k" } },
    { name: "rotating stdout", args: { file: "-", "file-rotate": "daily" } },
    { name: "zero batch size", args: { file: "x", "batch-size": "0" } },
    { name: "a previous webhook secret without a current one", args: { "webhook-url": "http://x", "webhook-secret-previous": "old" } },
    { name: "bad metrics address", args: { file: "x", "metrics-listen": "host:port" } },
  ];
  for (const c of bad) test(`rejects ${c.name}`, () => expect(() => resolveFeederConfig(c.args, c.env ?? {})).toThrow(RangeError));
  test("--<sink>-events selects events per sink", () => {
    const c = resolveFeederConfig({ "webhook-url": "https://h.example/x", "webhook-events": "human", file: "x", "file-events": "human-first" }, {});
    expect(c.sinks.map((s) => s.events)).toEqual(["human", "human-first"]);
    expect(() => resolveFeederConfig({ file: "x", "file-events": "bots" }, {})).toThrow(RangeError);
  });
  test("file rotation by size and day", () => {
    expect(resolveFeederConfig({ file: "x", "file-rotate": "size:100M" }, {}).sinks[0]).toMatchObject({ rotate: { kind: "size", bytes: 104857600 } });
    expect(resolveFeederConfig({ file: "x", "file-rotate": "daily" }, {}).sinks[0]).toMatchObject({ rotate: { kind: "daily" } });
  });
  test("repeatedFlag() collects every spelling", () => {
    expect(repeatedFlag(["--webhook-header", "A: 1", "--webhook_header=B: 2", "--", "--webhook-header", "C"], "webhook-header")).toEqual(["A: 1", "B: 2"]);
  });
});

describe("webhook signature header", () => {
  test("formats and parses t=…,v1=…", () => {
    const hex = "a".repeat(64);
    const header = formatSignatureHeader(1700000000, [hex]);
    expect(header).toBe(`t=1700000000,v1=${hex}`);
    expect(parseSignatureHeader(header)).toEqual({ timestamp: 1700000000, v1: [hex] });
    expect(parseSignatureHeader("v1=zz")).toBeNull();
    expect(signedPayload(1, "[]")).toBe("1.[]");
  });
});
