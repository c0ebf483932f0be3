/**
 * @module The ways mtatrack runs, for e2e suites: bun on the source, deno on the source, and the compiled host
 * binary (dist/, from `npm run build:single`). MTATRACK_REQUIRE_BINARY=1 makes a missing binary a failure, not a skip.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { hostTarget } from "../../scripts/build-targets.ts";

export const root = join(import.meta.dir, "../..");
export const denoPath: string | null =
  [join(root, "node_modules/.bin/deno"), Bun.which("deno")].find((p): p is string => Boolean(p && existsSync(p))) ?? null;
export const binaryPath = join(root, "dist", hostTarget().file);
export const requireBinary = process.env.MTATRACK_REQUIRE_BINARY === "1";

export interface Runner {
  name: string;
  /** The argv that runs `mtatrack`; append the subcommand and its flags. */
  argv: string[];
  /** True when this way of running is not available here (and not required). */
  skip: boolean;
  /** True for the compiled binary, false for the source under bun or deno. */
  binary: boolean;
}

const mainTs = join(root, "src/main.ts");

export const runners: Runner[] = [
  { name: "bun src/main.ts", argv: [process.execPath, mainTs], skip: false, binary: false },
  { name: "deno run -A src/main.ts", argv: [denoPath ?? "deno", "run", "-A", mainTs], skip: !denoPath, binary: false },
  { name: `dist/${hostTarget().file}`, argv: [binaryPath], skip: !existsSync(binaryPath) && !requireBinary, binary: true },
];
