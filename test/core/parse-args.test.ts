import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs as nodeParseArgs } from "node:util";
import { parseArgs, type ParseArgsConfig, type ParseArgsOptionConfig } from "../../src/core/parse-args.ts";

type Options = Record<string, ParseArgsOptionConfig>;

/** Both parsers on the same call: the same values and positionals, or both throw. */
function both(args: string[], options: Options) {
  const call = (fn: (c: ParseArgsConfig) => { values: object; positionals: string[] }) => {
    try {
      const { values, positionals } = fn({ args, options, strict: false, allowPositionals: true });
      return { values: { ...values }, positionals };
    } catch (error) {
      return { threw: error instanceof TypeError || (error as { code?: string }).code?.startsWith("ERR_INVALID") ? "TypeError" : String(error) };
    }
  };
  return { ours: call(parseArgs), node: call(nodeParseArgs as never) };
}

// Shaped like the options citty builds from a command's args: a type, sometimes a short letter or a default.
const acctEtlLike: Options = {
  infile: { type: "string" },
  ttl: { type: "string" },
  store: { type: "string", short: "s" },
  verbose: { type: "boolean", short: "v" },
  json: { type: "boolean" },
  "log-level": { type: "string", default: "info" },
  help: { type: "boolean", short: "h", default: false },
};
const withMultiple: Options = { field: { type: "string", short: "f", multiple: true }, quiet: { type: "boolean", short: "q", multiple: true } };

describe("parseArgs (citty's subset of util.parseArgs)", () => {
  test.each([
    [["--store", "sqlite:x.db", "pos"], { values: { store: "sqlite:x.db", "log-level": "info", help: false }, positionals: ["pos"] }],
    [["--store=redis://h:1/0", "--json"], { values: { store: "redis://h:1/0", json: true, "log-level": "info", help: false }, positionals: [] }],
    [["-s", "-v"], { values: { store: "-v", "log-level": "info", help: false }, positionals: [] }],
    [["-vs", "a.db"], { values: { verbose: true, store: "a.db", "log-level": "info", help: false }, positionals: [] }],
    [["-sa.db"], { values: { store: "a.db", "log-level": "info", help: false }, positionals: [] }],
    [["--store"], { values: { store: true, "log-level": "info", help: false }, positionals: [] }],
    [["--unknown", "x", "--", "--json"], { values: { unknown: true, "log-level": "info", help: false }, positionals: ["x", "--json"] }],
    [["-", "--__proto__=1", "--log-level", "warn"], { values: { "log-level": "warn", help: false }, positionals: ["-"] }],
  ] as const)("%j", (args, expected) => {
    const { ours, node } = both([...args], acctEtlLike);
    expect(ours).toEqual(expected as never);
    expect(node).toEqual(expected as never);
  });

  test("refuses what it does not implement instead of guessing", () => {
    expect(() => parseArgs({ args: [], strict: true })).toThrow(TypeError);
    expect(() => parseArgs({ args: [], strict: false, tokens: true })).toThrow(TypeError);
  });

  test("refuses the option shapes node:util refuses", () => {
    for (const options of [{ a: { type: "number" } }, { a: { type: "string", short: "ab" } }, { a: { type: "boolean", default: "yes" } }, { a: { type: "string", multiple: true, default: "x" } }] as unknown as Options[]) {
      const { ours, node } = both(["--a"], options);
      expect(ours).toEqual({ threw: "TypeError" });
      expect(node).toEqual({ threw: "TypeError" });
    }
  });

  // Every argument vector up to 5 long drawn from these pieces, on three option sets: the parsers agree.
  const pieces = ["--store", "--store=x", "x", "-", "--", "---", "-v", "-s", "-sv", "-vs", "-vsx", "-vq", "-qf", "-fq", "--verbose",
    "--unknown", "--unknown=1", "--a=", "--=x", "--=a=b", "-=", "-s=", "__proto__", "--__proto__", "-h", "--help=false",
    "--field", "-f", "--quiet", "sqlite:/a b.db", "--log-level", "warn", "-abc"];
  test("agrees with node:util on 30,000 generated argument vectors", () => {
    let seed = 0x5eed;
    const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    let compared = 0;
    for (const options of [acctEtlLike, withMultiple, {} as Options]) {
      for (let n = 0; n < 10_000; n++) {
        const args = Array.from({ length: Math.floor(random() * 6) }, () => pieces[Math.floor(random() * pieces.length)]!);
        const { ours, node } = both(args, options);
        if (JSON.stringify(ours) !== JSON.stringify(node)) expect({ args, options, ours }).toEqual({ args, options, ours: node });
        compared++;
      }
    }
    expect(compared).toBe(30_000);
  });

  test("citty still calls it the way this supports (strict: false, positionals allowed, no tokens)", () => {
    const citty = readFileSync(join(import.meta.dir, "../../node_modules/citty/dist/index.mjs"), "utf8");
    const call = citty.match(/parseArgs\$1\(\{([^}]*)\}\)/);
    expect(call).not.toBeNull();
    expect(call![1]!.replace(/\s+/g, " ").trim()).toBe('args: processedArgs, options: Object.keys(options).length > 0 ? options : void 0, allowPositionals: true, strict: false');
  });
});
