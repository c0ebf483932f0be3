import { expect, test } from "bun:test";
import { joinRepeatedFlags } from "../../src/core/repeated-flags.ts";

test.each([
  { name: "one occurrence is folded to its = form", argv: ["x", "--link-key", "a:1"], want: ["x", "--link-key=a:1"] },
  { name: "repeats fold into one comma list at the first position", argv: ["--link-key", "a:1", "y", "--link-key=b:2"], want: ["--link-key=a:1,b:2", "y"] },
  { name: "other flags are left alone", argv: ["--other", "v", "--other", "w"], want: ["--other", "v", "--other", "w"] },
  { name: "a trailing flag without value is left alone", argv: ["--link-key"], want: ["--link-key"] },
  { name: "everything after -- is data", argv: ["--link-key", "a:1", "--", "--link-key", "b:2"], want: ["--link-key=a:1", "--", "--link-key", "b:2"] },
])("joinRepeatedFlags(): $name", ({ argv, want }) => {
  expect(joinRepeatedFlags(argv, ["link-key"])).toEqual([...want]);
});
