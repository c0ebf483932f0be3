/** @module restoreJitPolicyAfter(): the binary's reluctant start-up JIT ends for a run that goes on. */
import { afterEach, expect, test } from "bun:test";
import { restoreJitPolicyAfter } from "../../src/runtime/jit-policy.ts";

const original = Bun.unsafe.setJITPolicy;
afterEach(() => {
  Bun.unsafe.setJITPolicy = original;
});

test("restoreJitPolicyAfter() sets the normal JIT policy (1) once the delay has passed, not before", async () => {
  const calls: number[] = [];
  Bun.unsafe.setJITPolicy = (scale: number) => void calls.push(scale);
  restoreJitPolicyAfter(30);
  await Bun.sleep(5);
  expect(calls).toEqual([]);
  for (let waited = 0; calls.length === 0 && waited < 5000; waited += 10) await Bun.sleep(10);
  expect(calls).toEqual([1]);
});

test("restoreJitPolicyAfter() does not keep a short process alive", async () => {
  const started = Date.now();
  const proc = Bun.spawn([process.execPath, "-e", `import("${import.meta.dir}/../../src/runtime/jit-policy.ts").then((m) => m.restoreJitPolicyAfter(10_000))`]);
  expect(await proc.exited).toBe(0);
  expect(Date.now() - started).toBeLessThan(5000);
});
