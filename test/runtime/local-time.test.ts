/** @module localTimeIsUtc(): true only where local time is certainly UTC. */
import { describe, expect, test } from "bun:test";
import { localTimeIsUtc } from "../../src/runtime/local-time.ts";

const enoent = () => {
  throw Object.assign(new Error("ENOENT: no such file or directory"), { code: "ENOENT" });
};
const notALink = () => {
  throw Object.assign(new Error("EINVAL: invalid argument"), { code: "EINVAL" });
};
const linkTo = (target: string) => () => target;

const cases: { name: string; tz?: string; link?: () => string; platform?: string; utc: boolean }[] = [
  { name: "TZ=UTC", tz: "UTC", utc: true },
  { name: "TZ=:Etc/UTC", tz: ":Etc/UTC", utc: true },
  { name: "TZ=GMT0", tz: "GMT0", utc: true },
  { name: "TZ=Etc/GMT+0", tz: "Etc/GMT+0", utc: true },
  { name: "TZ=/usr/share/zoneinfo/Zulu", tz: "/usr/share/zoneinfo/Zulu", utc: true },
  { name: "TZ=Europe/Paris", tz: "Europe/Paris", link: linkTo("/usr/share/zoneinfo/Etc/UTC"), utc: false },
  { name: "TZ=Etc/GMT+5", tz: "Etc/GMT+5", utc: false },
  { name: "TZ=EST5EDT", tz: "EST5EDT", utc: false },
  { name: "TZ empty", tz: "", utc: false },
  { name: "TZ=right/UTC (leap seconds)", tz: "right/UTC", utc: false },
  { name: "/etc/localtime -> /usr/share/zoneinfo/Etc/UTC", link: linkTo("/usr/share/zoneinfo/Etc/UTC"), utc: true },
  { name: "/etc/localtime -> ../usr/share/zoneinfo/UTC", link: linkTo("../usr/share/zoneinfo/UTC"), utc: true },
  { name: "/etc/localtime -> /var/db/timezone/zoneinfo/UTC (macOS)", link: linkTo("/var/db/timezone/zoneinfo/UTC"), utc: true },
  { name: "/etc/localtime -> /usr/share/zoneinfo/America/New_York", link: linkTo("/usr/share/zoneinfo/America/New_York"), utc: false },
  { name: "/etc/localtime a plain file", link: notALink, utc: false },
  { name: "/etc/localtime absent (the C library uses UTC)", link: enoent, utc: true },
  { name: "Windows, whatever TZ says", tz: "UTC", platform: "win32", utc: false },
];

describe("localTimeIsUtc()", () => {
  test.each(cases)("localTimeIsUtc() for $name is $utc", ({ tz, link, platform, utc }) => {
    const env = tz === undefined ? {} : { TZ: tz };
    expect(localTimeIsUtc(env, { platform: platform ?? "linux", readLink: link ?? enoent })).toBe(utc);
  });

  test("localTimeIsUtc() agrees with the runtime when it says true", () => {
    if (localTimeIsUtc(process.env)) expect(new Date().getTimezoneOffset()).toBe(0);
  });
});
