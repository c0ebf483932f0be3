/** Loads the golden corpus (test/wrapper/fixtures/*.eml) and its decoded HTML parts. */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const fixturesDir = join(import.meta.dir, "fixtures");

/** Every fixture: file name and raw bytes. */
export function corpus(): { name: string; bytes: Buffer }[] {
  return readdirSync(fixturesDir)
    .filter((f) => f.endsWith(".eml"))
    .sort()
    .map((name) => ({ name, bytes: readFileSync(join(fixturesDir, name)) }));
}

/** The HTML documents of the corpus: each fixture's `*.html` companion files, as binary strings. */
export function corpusHtml(): string[] {
  return readdirSync(fixturesDir)
    .filter((f) => f.endsWith(".html"))
    .sort()
    .map((name) => readFileSync(join(fixturesDir, name)).toString("latin1"));
}
