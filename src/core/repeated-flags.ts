/** @module Lets a string flag be repeated although citty keeps only the last value of a repeated flag. */

/**
 * Folds every `--name v` / `--name=v` of each listed flag into one `--name=v1,v2,…` at its first position,
 * so a flag whose values are comma-separated lists (like `--link-key`) can also be given several times.
 * Everything after `--` is data and left alone.
 * @example joinRepeatedFlags(["--link-key", "a:x", "--link-key=b:y"], ["link-key"]) // ["--link-key=a:x,b:y"]
 */
export function joinRepeatedFlags(argv: readonly string[], names: readonly string[]): string[] {
  const values = new Map<string, string[]>();
  const firstAt = new Map<string, number>();
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      out.push(...argv.slice(i));
      break;
    }
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") ? arg.slice(2, eq < 0 ? undefined : eq) : "";
    const hasValue = eq >= 0 || i + 1 < argv.length;
    if (!names.includes(name) || !hasValue) {
      out.push(arg);
      continue;
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i]!;
    if (!values.has(name)) {
      values.set(name, []);
      firstAt.set(name, out.length);
      out.push("");
    }
    values.get(name)!.push(value);
  }
  for (const [name, list] of values) out[firstAt.get(name)!] = `--${name}=${list.join(",")}`;
  return out;
}
