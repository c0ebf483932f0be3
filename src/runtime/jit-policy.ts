/**
 * @module The compiled binary's start-up JIT policy, and its end.
 *
 * `scripts/build.ts` compiles with `compile.jitPolicy` > 1: JavaScriptCore's tier-up thresholds are
 * multiplied, so code that runs only while starting (module bodies, argument parsing, opening the store)
 * stays in the interpreter instead of being compiled on background threads that finish after it ran.
 * That is several ms of CPU in a short `acct-etl` run (BENCHMARKS.md, acct-etl start-up). A process that
 * is still running a moment later is a long one (a pipe that stays open, a big file, a server), and gets
 * the normal policy back, as Bun's docs ask (`Bun.unsafe.setJITPolicy(1)` once interactive).
 */

/**
 * Restores the normal JIT policy `ms` after now, without keeping the process alive for it. A no-op off
 * Bun, and harmless where the policy already is normal (`bun src/main.ts`).
 */
export function restoreJitPolicyAfter(ms: number): void {
  if (!("Bun" in globalThis) || typeof Bun.unsafe?.setJITPolicy !== "function") return;
  setTimeout(() => Bun.unsafe.setJITPolicy(1), ms).unref();
}
