import { expect, test } from "bun:test";
import { normalizeGoFlags } from "../../src/core/argv.ts";

test.each([
  { name: "Go single-dash long flag", input: ["-tracking_url", "http://x"], output: ["--tracking_url", "http://x"] },
  { name: "Go flag with =value", input: ["-in_hostport=:8888"], output: ["--in_hostport=:8888"] },
  { name: "kebab long flag untouched", input: ["--in-hostport", ":1"], output: ["--in-hostport", ":1"] },
  { name: "single letter untouched", input: ["-h"], output: ["-h"] },
  { name: "negative number untouched", input: ["--ttl", "-5"], output: ["--ttl", "-5"] },
  { name: "after -- is data", input: ["--", "-action"], output: ["--", "-action"] },
])("normalizeGoFlags() $name", ({ input, output }) => {
  expect(normalizeGoFlags(input)).toEqual([...output]);
});
