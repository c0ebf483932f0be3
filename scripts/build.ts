/**
 * @module Release build: `bun scripts/build.ts [--single]`.
 * Compiles src/main.ts into one self-contained binary per target in dist/, and writes dist/SHA256SUMS.
 * `--single` builds only the host target and prints its path (also written to dist/HOST_BINARY).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { hostTarget, TARGETS, type BuildTarget } from "./build-targets.ts";

const root = join(import.meta.dir, "..");
const dist = join(root, "dist");
const single = process.argv.includes("--single");
const targets: readonly BuildTarget[] = single ? [hostTarget()] : TARGETS;

/**
 * citty imports `parseArgs` from `node:util`, and loading that built-in costs the binary 2-4 ms of every start
 * (BENCHMARKS.md, acct-etl session 5). The binary's citty gets src/core/parse-args.ts instead, which gives the
 * same results for citty's call (test/core/parse-args.test.ts). The build fails if citty's import changed.
 */
const cittyParseArgs: Bun.BunPlugin = {
  name: "citty-parse-args",
  setup(build) {
    build.onLoad({ filter: /[\\/]citty[\\/]dist[\\/]index\.mjs$/ }, async ({ path }) => {
      const source = await Bun.file(path).text();
      const from = 'import { parseArgs as parseArgs$1 } from "node:util";';
      if (source.split(from).length !== 2) {
        throw new Error(`${path} no longer has \`${from}\`: check src/core/parse-args.ts against citty's call, then update scripts/build.ts`);
      }
      const to = `import { parseArgs as parseArgs$1 } from ${JSON.stringify(join(root, "src/core/parse-args.ts"))};`;
      return { contents: source.replace(from, () => to), loader: "js" };
    });
  },
};

mkdirSync(dist, { recursive: true });
const built: string[] = [];
const failed: string[] = [];
for (const { target, file } of targets) {
  const outfile = join(dist, file);
  rmSync(outfile, { force: true });
  const started = performance.now();
  try {
    const result = await Bun.build({
      entrypoints: [join(root, "src/main.ts")],
      plugins: [cittyParseArgs],
      // Embedded in the binary: stack traces name src/… lines even when the binary is copied elsewhere.
      sourcemap: "linked",
      minify: { syntax: true, whitespace: true },
      // The version is the one package.json had at build time (main.ts imports it; this makes it a constant too).
      define: { MTATRACK_VERSION: JSON.stringify(pkg.version) },
      // Start-up (PowerMTA may start `acct-etl` often). Bytecode: JavaScriptCore bytecode is built now, so a
      // start does not parse the bundle; for an ES module (main.ts uses top-level await) it needs format
      // "esm", the default "cjs" rejects top-level await. Splitting: each subcommand's lazy import() is its
      // own chunk inside the binary, so a start loads only the chunks of the subcommand it runs (acct-etl
      // does not load the wrapper's MIME and charset libraries). Measured in BENCHMARKS.md (acct-etl).
      bytecode: true,
      format: "esm",
      splitting: true,
      compile: {
        target: target as Bun.Build.CompileTarget,
        outfile,
        // Start-up again: JIT tier-up thresholds x8 while starting, so run-once code is not compiled on
        // background threads; src/runtime/jit-policy.ts restores the normal policy 100 ms into a run.
        jitPolicy: 8,
        // A .env or bunfig.toml in the operator's working directory must not change the binary's behaviour.
        autoloadDotenv: false,
        autoloadBunfig: false,
      },
    });
    if (!result.success) throw new AggregateError(result.logs, "build failed");
    // The linked maps (the entry's and each chunk's) are embedded in the binary; the copies written beside it are not shipped.
    for (const output of result.outputs) if (output.kind === "sourcemap") rmSync(output.path, { force: true });
    rmSync(`${outfile.replace(/\.exe$/, "")}.map`, { force: true });
    built.push(file);
    console.error(`build: ${target} -> dist/${file} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  } catch (error) {
    failed.push(target);
    console.error(`build: ${target} FAILED: ${error instanceof Error ? error.message : String(error)}`);
    if (error instanceof AggregateError) for (const log of error.errors) console.error(`  ${String(log)}`);
  }
}

// Checksums of every release binary now in dist/ (this run's and earlier ones'), in the format `sha256sum -c` reads.
const present = TARGETS.map((t) => t.file).filter((file) => existsSync(join(dist, file)));
const sums = present.map((file) => `${createHash("sha256").update(readFileSync(join(dist, file))).digest("hex")}  ${file}\n`).join("");
writeFileSync(join(dist, "SHA256SUMS"), sums);
rmSync(join(dist, "HOST_BINARY"), { force: true });
if (single && built[0]) {
  const path = join("dist", built[0]);
  writeFileSync(join(dist, "HOST_BINARY"), `${path}\n`);
  console.log(path);
}
if (failed.length > 0) {
  console.error(`build: ${failed.length} target(s) failed: ${failed.join(", ")}`);
  process.exitCode = 1;
}
