import { expect, test } from "bun:test";
import { isSpMessageId, spMessageId } from "../../src/core/message-id.ts";

test("spMessageId() matches the original's example (reference §2.5)", () => {
  expect(spMessageId(0x6b08d8ec * 1000, new Uint8Array([0x5c, 0xac, 0x6a, 0x04]))).toBe("0000ecd8086b5cac6a04");
});

test("spMessageId() is 20 lowercase hex and differs with the random bytes", () => {
  const a = spMessageId(Date.now(), new Uint8Array([1, 2, 3, 4]));
  const b = spMessageId(Date.now(), new Uint8Array([1, 2, 3, 5]));
  expect(isSpMessageId(a)).toBe(true);
  expect(a).not.toBe(b);
});
