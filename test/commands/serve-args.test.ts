/**
 * `mtatrack serve`'s flags are the parts' own: every part flag is either taken under its name, renamed with
 * the part's prefix, or refused with a pointer; no name (or alias) means two different things.
 */
import { describe, expect, test } from "bun:test";
import { ambiguousFlags, partArgs, serveArgs } from "../../src/commands/_serve-args.ts";
import { linkKeyArgs, logArgs, storeArgs } from "../../src/commands/_shared.ts";

/** Flag groups every part spreads in, so the same name means the same thing everywhere. */
const shared = new Set(Object.keys({ ...linkKeyArgs, ...logArgs, ...storeArgs }));
const renamed: Record<string, string[]> = {
  "in-hostport": ["tracker-hostport", "smtp-hostport"],
  "tls-cert": ["tracker-tls-cert", "smtp-tls-cert"],
  "tls-key": ["tracker-tls-key", "smtp-tls-key"],
  "metrics-listen": ["tracker-metrics-listen", "smtp-metrics-listen", "feeder-metrics-listen"],
};
type ArgDef = { alias?: string | string[] };
const names = (name: string, def: ArgDef) => [name, ...[def.alias ?? []].flat()].map((n) => n.replaceAll("_", "-"));

describe("serveArgs", () => {
  test("every flag of every part is in serve, renamed with the part's prefix, or refused", () => {
    for (const [part, args] of Object.entries(partArgs)) {
      for (const name of Object.keys(args)) {
        const placed = name in serveArgs || name in ambiguousFlags || (renamed[name] ?? []).some((n) => n in serveArgs);
        expect({ part, name, placed }).toEqual({ part, name, placed: true });
      }
    }
  });

  test("no name or alias belongs to two parts, except the shared groups and the renamed ones", () => {
    const owners = new Map<string, Set<string>>();
    for (const [part, args] of Object.entries(partArgs)) {
      for (const [name, def] of Object.entries(args as Record<string, ArgDef>)) {
        if (shared.has(name) || name in renamed) continue;
        for (const n of names(name, def)) owners.set(n, (owners.get(n) ?? new Set()).add(part));
      }
    }
    const clashes = [...owners].filter(([, parts]) => parts.size > 1).map(([n, parts]) => `${n}: ${[...parts].join(", ")}`);
    expect(clashes).toEqual([]);
  });

  test("the refused spellings are not flags of serve, under any alias", () => {
    const taken = new Set(Object.entries(serveArgs as Record<string, ArgDef>).flatMap(([name, def]) => names(name, def)));
    for (const name of Object.keys(ambiguousFlags)) expect({ name, taken: taken.has(name) }).toEqual({ name, taken: false });
  });
});
