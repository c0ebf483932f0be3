/**
 * @module Whether local time is UTC, answered from `TZ` and the `/etc/localtime` link alone.
 *
 * The first local-time call (`Date#getHours()` and the like) makes JavaScriptCore load its time-zone
 * database: about 10 ms of CPU in the compiled binary, more than half of what a short `acct-etl` run
 * costs besides the runtime itself (BENCHMARKS.md, acct-etl start-up). Where local time is UTC, which is
 * common on servers, the logger can format with the UTC getters instead and print the same text.
 */
import { readlinkSync } from "node:fs";

/** Zone names that mean UTC: `UTC`, `Etc/UTC`, `UCT`, `GMT0`, `Etc/GMT+0`, `Universal`, `Zulu`, … */
const UTC_ZONE = /^(?:posix\/)?(?:Etc\/)?(?:UTC|UCT|GMT|Universal|Zulu|Greenwich)(?:[+-]?0)?$/;

export interface LocalTimeOptions {
  /** @default process.platform */
  platform?: string;
  /** @default fs.readlinkSync */
  readLink?: (path: string) => string;
}

/**
 * True only when local time is certainly UTC: `TZ` names a UTC zone (`UTC`, `:Etc/UTC`,
 * `/usr/share/zoneinfo/UTC`, `GMT0`…), or `TZ` is unset and `/etc/localtime` is a link to such a zone or
 * absent (the C library then uses UTC). False in every other case (another zone, an empty `TZ`,
 * `/etc/localtime` a plain file, Windows), where callers keep using local-time getters.
 *
 * @example
 * localTimeIsUtc({ TZ: "Etc/UTC" }); // true
 * localTimeIsUtc({ TZ: "Europe/Paris" }); // false
 */
export function localTimeIsUtc(env: Record<string, string | undefined>, { platform = process.platform, readLink = readlinkSync }: LocalTimeOptions = {}): boolean {
  if (platform === "win32") return false;
  if (env.TZ !== undefined) return isUtcZone(env.TZ.replace(/^:/, ""));
  try {
    return isUtcZone(readLink("/etc/localtime"));
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT";
  }
}

function isUtcZone(name: string): boolean {
  const i = name.lastIndexOf("zoneinfo/");
  return UTC_ZONE.test(i >= 0 ? name.slice(i + "zoneinfo/".length) : name);
}
