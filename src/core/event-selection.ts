/** @module Which events a sink receives: all of them, or only people's, or only the first per message. */
import type { TrackingEvent } from "./event.ts";

/**
 * - `all`: every event (the default; SparkPost's own reporting expects every open and click).
 * - `human`: not the tracker's machine verdicts (Apple MPP, image proxies, scanners, bots).
 * - `first`: the first open and the first click of each message only.
 * - `human-first`: both.
 */
export type EventSelection = "all" | "human" | "first" | "human-first";

const selections: readonly EventSelection[] = ["all", "human", "first", "human-first"];

/**
 * Parses a `--<sink>-events` value.
 * @throws {RangeError} naming the flag and the accepted values
 * @example parseEventSelection("human", "webhook-events") // "human"
 */
export function parseEventSelection(value: string | undefined, flag: string): EventSelection {
  const v = (value ?? "all").trim().toLowerCase();
  if ((selections as readonly string[]).includes(v)) return v as EventSelection;
  throw new RangeError(`Cannot use --${flag} "${value}": expected ${selections.join(", ")}`);
}

/**
 * True when `event` belongs to `selection`.
 * @example selects("human", { ...event, machine: true }) // false
 */
export function selects(selection: EventSelection, event: Pick<TrackingEvent, "machine" | "first">): boolean {
  switch (selection) {
    case "all":
      return true;
    case "human":
      return !event.machine;
    case "first":
      return event.first;
    case "human-first":
      return !event.machine && event.first;
  }
}
