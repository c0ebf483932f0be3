import { describe, expect, test } from "bun:test";
import { ingestBaseUrl, ingestEventsUrl } from "../../src/core/ingest-host.ts";

describe("ingestBaseUrl()", () => {
  const cases = [
    // The original's four HostCleanup forms (reference §1, §9).
    { name: "bare host gets https", input: "example.com", output: "https://example.com" },
    { name: "trailing slash trimmed", input: "example.com/", output: "https://example.com" },
    { name: "trailing /api/v1 trimmed", input: "example.com/api/v1", output: "https://example.com" },
    { name: "trailing /api/v1/ trimmed", input: "example.com/api/v1/", output: "https://example.com" },
    { name: "unset means api.sparkpost.com", input: undefined, output: "https://api.sparkpost.com" },
    { name: "empty means api.sparkpost.com (GetenvDefault)", input: "", output: "https://api.sparkpost.com" },
    { name: "EU host", input: "api.eu.sparkpost.com", output: "https://api.eu.sparkpost.com" },
    { name: "custom https host with path prefix", input: "https://ingest.example.com/sp/api/v1/", output: "https://ingest.example.com/sp" },
    { name: "http:// is kept for a local endpoint (original made https://http://)", input: "http://127.0.0.1:8080", output: "http://127.0.0.1:8080" },
    { name: "scheme case folded", input: "HTTPS://API.sparkpost.com", output: "https://API.sparkpost.com" },
  ];
  for (const c of cases) test(c.name, () => expect(ingestBaseUrl(c.input)).toBe(c.output));

  test("rejects other schemes and unparsable hosts", () => {
    expect(() => ingestBaseUrl("ftp://example.com")).toThrow(TypeError);
    expect(() => ingestBaseUrl("exa mple.com")).toThrow(TypeError);
    expect(() => ingestBaseUrl("example.com/?a=1")).toThrow(TypeError);
  });

  test("ingestEventsUrl() appends the ingest path", () => {
    expect(ingestEventsUrl(ingestBaseUrl("api.sparkpost.com"))).toBe("https://api.sparkpost.com/api/v1/ingest/events");
  });
});
