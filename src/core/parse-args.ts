/**
 * @module `util.parseArgs` as citty calls it (`strict: false`, `allowPositionals: true`, no tokens), without
 * loading `node:util`.
 *
 * Why: citty imports `parseArgs` from `node:util`, and loading that built-in costs a compiled binary 2-4 ms
 * of every start (BENCHMARKS.md, acct-etl session 5); PowerMTA may start `acct-etl` often. The release build
 * (scripts/build.ts) points citty's import here; `bun src/main.ts`, Deno and Node keep `node:util`.
 * test/core/parse-args.test.ts compares this with `node:util`'s on generated argument vectors, and checks that
 * citty still calls it the way this supports.
 *
 * Rules (Node's, non-strict): `--` ends the options; `--name=value`; `--name` takes the next argument as its
 * value when the option is a string one (whatever that argument looks like), else is `true`; `-x` likewise
 * through the option whose `short` is x (or the letter itself); `-xVALUE` when x is a string option; `-abc` is
 * `-a -b -c`, where a string option in the middle takes the rest; anything else is positional. Unknown options
 * are kept. Defaults fill what is still undefined. `__proto__` is never stored.
 */

export interface ParseArgsOptionConfig {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  default?: string | boolean | string[] | boolean[];
}

export interface ParseArgsConfig {
  args?: readonly string[];
  options?: Record<string, ParseArgsOptionConfig>;
  strict?: boolean;
  allowPositionals?: boolean;
  tokens?: boolean;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/**
 * Parses `args` like `util.parseArgs` with `strict: false`.
 *
 * @throws {TypeError} for a call outside that subset (`strict` not false, `tokens`), or an option whose
 *   `type`, `short` or `default` Node would refuse (citty turns a throw into "all positional", as with Node).
 * @example
 * parseArgs({ args: ["--store", "sqlite:x.db", "-v", "pos"], options: { store: { type: "string" }, verbose: { type: "boolean", short: "v" } }, strict: false, allowPositionals: true });
 * // { values: { store: "sqlite:x.db", verbose: true }, positionals: ["pos"] }
 */
export function parseArgs({ args = [], options = {}, strict = true, tokens = false }: ParseArgsConfig = {}): ParsedArgs {
  if (strict !== false || tokens) throw new TypeError("this parseArgs supports { strict: false } without tokens only (citty's call)");
  const configs = Object.entries(options);
  for (const [name, o] of configs) checkOption(name, o);
  const own = (name: string) => (Object.hasOwn(options, name) ? options[name] : undefined);
  const nameOfShort = (letter: string) => configs.find(([, o]) => o.short === letter)?.[0] ?? letter;

  const values: ParsedArgs["values"] = Object.create(null);
  const positionals: string[] = [];
  const store = (name: string, value: string | undefined) => {
    if (name === "__proto__") return;
    const v = value ?? true;
    if (own(name)?.multiple) {
      const list = values[name];
      if (Array.isArray(list)) list.push(v);
      else values[name] = [v];
    } else values[name] = v;
  };

  const rest = [...args];
  // A string option takes the next argument as its value, whatever it looks like; any other option none.
  const valueAfter = (name: string) => (own(name)?.type === "string" && rest.length > 0 ? rest.shift() : undefined);
  while (rest.length > 0) {
    const arg = rest.shift()!;
    if (arg === "--") {
      positionals.push(...rest);
      break;
    }
    const short = arg.length >= 2 && arg[0] === "-" && arg[1] !== "-";
    if (short && arg.length === 2) {
      const name = nameOfShort(arg[1]!);
      store(name, valueAfter(name));
    } else if (short) {
      const name = nameOfShort(arg[1]!);
      if (own(name)?.type === "string") {
        store(name, arg.slice(2));
        continue;
      }
      // A group: each letter on its own, except that a string option takes the rest of the group as its value.
      const expanded: string[] = [];
      for (let k = 1; k < arg.length; k++) {
        const letter = arg[k]!;
        if (own(nameOfShort(letter))?.type !== "string" || k === arg.length - 1) expanded.push(`-${letter}`);
        else {
          expanded.push(`-${letter}`, arg.slice(k + 1));
          break;
        }
      }
      rest.unshift(...expanded);
    } else if (arg.length > 2 && arg.startsWith("--")) {
      // Only the first "=" counts, and only after a name: "--=x" and "--=a=b" are options named "=x" and "=a=b" (Bun's).
      const eq = arg.indexOf("=");
      if (eq > 2) {
        store(arg.slice(2, eq), arg.slice(eq + 1));
      } else {
        store(arg.slice(2), valueAfter(arg.slice(2)));
      }
    } else {
      positionals.push(arg);
    }
  }
  for (const [name, o] of configs) {
    if (o.default !== undefined && values[name] === undefined && name !== "__proto__") values[name] = o.default;
  }
  return { values, positionals };
}

function checkOption(name: string, o: ParseArgsOptionConfig): void {
  if (o.type !== "string" && o.type !== "boolean") throw new TypeError(`options.${name}.type must be "string" or "boolean"`);
  if (o.short !== undefined && !(typeof o.short === "string" && o.short.length === 1)) throw new TypeError(`options.${name}.short must be a single character`);
  if (o.default === undefined) return;
  const fits = (v: unknown) => typeof v === o.type;
  if (o.multiple ? !(Array.isArray(o.default) && o.default.every(fits)) : !fits(o.default)) {
    throw new TypeError(`options.${name}.default must be of type ${o.type}${o.multiple ? "[]" : ""}`);
  }
}
