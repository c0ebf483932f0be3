/**
 * @module The one push failure that leaves open whether the events landed: the connection broke after the
 * command was sent, so the store may have run it before it went away (Redis with `appendfsync always`
 * keeps it through a crash) without the answer ever arriving. Whoever spools such events must ask the
 * store, once it is back, which of them it has, or a replay puts those in the queue twice.
 */

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
