/** @module Promise helpers over timers, shared by the services: a sleep that can be cut short, and time bounds. */

/**
 * Resolves after `ms` (negative counts as 0), or at once when `signal` aborts. Never rejects: callers check
 * `signal.aborted` themselves.
 * @example await sleep(100, controller.signal)
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

/**
 * Settles like `p`, or rejects with `Error("no answer within <ms> ms")` once `ms` passed; leaves no timer behind.
 * `p` itself is not cancelled.
 * @example await withTimeout(store.ping(), 2000)
 */
export async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for `p` to settle (either way), or `ms`, whichever comes first; leaves no timer behind. */
export async function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      p.then(() => {}, () => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
