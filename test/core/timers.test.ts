import { expect, test } from "bun:test";
import { settleWithin, sleep, withTimeout } from "../../src/core/timers.ts";

test("sleep() resolves at once when its signal aborts", async () => {
  const controller = new AbortController();
  const started = performance.now();
  const sleeping = sleep(60_000, controller.signal);
  controller.abort();
  await sleeping;
  // Far below the 60 s it was asked to sleep: the abort cut it short.
  expect(performance.now() - started).toBeLessThan(30_000);
});

test("withTimeout() settles like the promise when it answers in time", async () => {
  expect(await withTimeout(Promise.resolve(7), 1000)).toBe(7);
  await expect(withTimeout(Promise.reject(new Error("boom")), 1000)).rejects.toThrow("boom");
});

test("withTimeout() rejects with the bound when the promise never answers", async () => {
  await expect(withTimeout(new Promise(() => {}), 20)).rejects.toThrow("no answer within 20 ms");
});

test("settleWithin() resolves on a rejection and on a promise that never settles", async () => {
  await expect(settleWithin(Promise.reject(new Error("ignored")), 1000)).resolves.toBeUndefined();
  await expect(settleWithin(new Promise(() => {}), 20)).resolves.toBeUndefined();
});
