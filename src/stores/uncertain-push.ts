/**
 * @module The one push failure that leaves open whether the events landed: the connection broke after the
 * command was sent, so the store may have run it before it went away (Redis with `appendfsync always`
 * keeps it through a crash) without the answer ever arriving. Whoever spools such events must ask the
 * store, once it is back, which of them it has, or a replay puts those in the queue twice.
 */
import type { EventQueue } from "./types.ts";

/** A rejected push whose events may be in the queue all the same; {@link landedBodies} asks the store. */
export class UncertainPushError extends Error {
  override name = "UncertainPushError";

  /**
   * @param landedBodies Resolves, once the store answers, with the bodies of this push that are in the
   * queue (in push order); rejects while the store is still unreachable.
   */
  constructor(message: string, readonly landedBodies: () => Promise<readonly string[]>, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * A push of `bodies` that is safe to call again after it failed: a call after an UncertainPushError first
 * asks the store which bodies landed (rejecting while it cannot say) and pushes only the rest, so retrying
 * it never puts an event in the queue twice.
 *
 * @example
 * const push = retryablePush(queue, [letter]);
 * await push().catch(() => push()); // the second call pushes again only what the first did not land
 */
export function retryablePush(queue: Pick<EventQueue, "push">, bodies: readonly string[]): () => Promise<void> {
  let left = bodies;
  let uncertain: UncertainPushError | null = null;
  return async () => {
    if (uncertain) {
      // The bodies a push landed are a prefix of what it was given.
      left = left.slice((await uncertain.landedBodies()).length);
      uncertain = null;
      if (left.length === 0) return;
    }
    try {
      await queue.push(left);
    } catch (error) {
      if (error instanceof UncertainPushError) uncertain = error;
      throw error;
    }
  };
}
