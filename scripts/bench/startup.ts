/**
 * @module Start-up benchmark on a shared, noisy machine: interleaved rounds, medians, CPU time, ratios.
 *
 *   bun scripts/bench/startup.ts --rounds 40 --warmup 3 \
 *     'bun -e 0' 'dist/mtatrack-linux-x64 acct-etl --store sqlite:/tmp/x.db --infile one.csv' …
 *
 * Each round runs every command once, in turn, so load that comes and goes hits them alike; the first
 * command is the baseline. For each command it prints the median wall time, the median CPU time of the
 * child (user + sys, from its rusage: it moves much less than wall time when other work competes for the
 * cores), and both as a multiple of the baseline's median. A command is split on spaces; `<path` as its
 * last word feeds that file to its stdin (else stdin is empty). stdout and stderr are discarded; a command
 * that exits non-zero stops the run with its stderr.
 */
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  options: { rounds: { type: "string", default: "40" }, warmup: { type: "string", default: "3" } },
  allowPositionals: true,
});
const rounds = Number(values.rounds);
const warmup = Number(values.warmup);
if (positionals.length < 2 || !(rounds > 0) || !(warmup >= 0)) {
  console.error("usage: bun scripts/bench/startup.ts [--rounds N] [--warmup N] 'baseline command' 'command' …");
  process.exit(2);
}

interface Spec {
  label: string;
  argv: string[];
  stdin: string | null;
  wall: number[];
  cpu: number[];
}

const specs: Spec[] = positionals.map((label) => {
  const words = label.trim().split(/\s+/);
  const last = words.at(-1)!;
  const stdin = last.startsWith("<") ? last.slice(1) : null;
  return { label, argv: stdin === null ? words : words.slice(0, -1), stdin, wall: [], cpu: [] };
});

for (let round = 0; round < warmup + rounds; round++) {
  for (const spec of specs) {
    const started = performance.now();
    const proc = Bun.spawnSync(spec.argv, { stdin: spec.stdin === null ? "ignore" : Bun.file(spec.stdin), stdout: "ignore", stderr: "pipe" });
    const wall = performance.now() - started;
    if (proc.exitCode !== 0) {
      console.error(`startup: "${spec.label}" exited with ${proc.exitCode}:\n${proc.stderr.toString()}`);
      process.exit(1);
    }
    const { user, system } = proc.resourceUsage!.cpuTime;
    if (round >= warmup) {
      spec.wall.push(wall);
      spec.cpu.push((Number(user) + Number(system)) / 1000);
    }
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const base = specs[0]!;
const [baseWall, baseCpu] = [median(base.wall), median(base.cpu)];
console.log(`${rounds} interleaved rounds (+${warmup} warm-up), medians; CPU = user + sys of the child; ratios to the first command`);
console.log(`${"wall".padStart(9)} ${"CPU".padStart(9)} ${"x wall".padStart(7)} ${"x CPU".padStart(7)}  command`);
for (const spec of specs) {
  const [wall, cpu] = [median(spec.wall), median(spec.cpu)];
  console.log(`${wall.toFixed(1).padStart(6)} ms ${cpu.toFixed(1).padStart(6)} ms ${(wall / baseWall).toFixed(2).padStart(7)} ${(cpu / baseCpu).toFixed(2).padStart(7)}  ${spec.label}`);
}
