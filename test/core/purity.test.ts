import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const coreDir = join(import.meta.dir, "../../src/core");
const forbidden = [/from\s+["']node:/, /\bBun\./, /\bDeno\./, /\bprocess\./, /\bconsole\./];

test("src/core/ stays pure: no node: imports, no Bun/Deno/process/console", () => {
  const files = readdirSync(coreDir, { recursive: true }).map(String).filter((f) => f.endsWith(".ts"));
  expect(files.length).toBeGreaterThan(0);
  const offences = files.flatMap((file) => {
    const text = readFileSync(join(coreDir, file), "utf8");
    return forbidden.filter((re) => re.test(text)).map((re) => `${file}: ${re}`);
  });
  expect(offences).toEqual([]);
});
