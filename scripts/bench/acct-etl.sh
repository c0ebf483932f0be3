#!/usr/bin/env bash
# acct-etl benchmark: rows/s for 1,000,000 accounting rows from a file into SQLite and into Redis, and the
# start-up time of one `mtatrack acct-etl` that reads one row (PowerMTA may start it often), each next to a
# baseline measured in the same run: `cat file > /dev/null` for throughput, a bare `bun -e 0` for start-up.
#
#   scripts/bench/acct-etl.sh            # ROWS=1000000 RUNS=3 by default
#   MTATRACK_BIN=dist/mtatrack-linux-x64 scripts/bench/acct-etl.sh
#
# Uses the compiled binary from dist/HOST_BINARY when it has acct-etl, else `bun src/main.ts` (it says which).
# Needs redis-server for the Redis figures (apt-get install redis-server); it says so and skips them when missing.
# Start-up: scripts/bench/startup.ts, STARTUP_RUNS interleaved rounds (default 40).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/node_modules/.bin:$PATH"

ROWS="${ROWS:-1000000}"
RUNS="${RUNS:-3}"
work="$(mktemp -d)"
redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${MTATRACK_BIN:-}" ]; then
  cmd=("$MTATRACK_BIN"); label="$MTATRACK_BIN (from MTATRACK_BIN)"
elif [ -f dist/HOST_BINARY ] && bin="$(cat dist/HOST_BINARY)" && [ -x "$bin" ] && "$bin" acct-etl --help 2>&1 | grep -q -- --infile; then
  cmd=("$bin"); label="$bin (compiled)"
else
  cmd=(bun src/main.ts); label="bun src/main.ts (no compiled binary with acct-etl in dist/)"
fi

echo "acct-etl bench: $(date -u +%FT%TZ), $(uname -sm), $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ //')"
echo "mtatrack: $label; bun $(bun --version); rows: $ROWS; runs: $RUNS (median)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)"

# The input: PowerMTA's shape (record-fields d rcpt,header_x-sp-message-id,header_x-sp-subaccount-id), unique ids.
bun -e '
const n = Number(process.argv[1]);
const w = Bun.stdout.writer();
w.write("type,rcpt,header_x-sp-message-id,header_x-sp-subaccount-id\n");
for (let i = 0; i < n; i++) w.write(`d,test+${i.toString().padStart(8, "0")}@not-orange.fr.bouncy-sink.trymsys.net,0000${i.toString(16).padStart(16, "0")},${i % 100}\n`);
await w.end();' "$ROWS" > "$work/acct.csv"
head -2 "$work/acct.csv" | tail -1 > "$work/one-row.csv"
sed -i "1i type,rcpt,header_x-sp-message-id,header_x-sp-subaccount-id" "$work/one-row.csv"
echo "input: $(du -h "$work/acct.csv" | cut -f1) ($ROWS rows)"

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# measure <command...>: "wall user sys" seconds of one run. The machine may be shared: CPU time (user + sys)
# is reported beside wall time because it moves less when other work competes for the cores.
if [ -x /usr/bin/time ]; then
  measure() { /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" >/dev/null; cat "$work/time"; }
else
  echo "note: /usr/bin/time is missing (apt-get install time): CPU time is not measured"
  measure() {
    local t0 t1; t0="$(date +%s%N)"; "$@" >/dev/null; t1="$(date +%s%N)"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f 0 0\n", (b - a) / 1e9 }'
  }
fi

report() { # report <name> <note> <"wall user sys" lines…>: median wall time and rows/s, CPU time per run
  local name="$1" note="$2"; shift 2
  local wall cpu
  wall="$(printf '%s\n' "$@" | awk '{ print $1 }' | median)"
  cpu="$(printf '%s\n' "$@" | awk '{ print $2 + $3 }' | median)"
  awk -v n="$ROWS" -v w="$wall" -v c="$cpu" -v name="$name" -v note="$note" -v all="$(printf '%s\n' "$@" | awk '{ printf "%s ", $1 }')" \
    'BEGIN { printf "%-8s wall %7.3f s %10.0f rows/s | cpu %7.3f s %10.0f rows/cpu-s  %s(wall runs: %s)\n", name, w, (w > 0 ? n / w : 0), c, (c > 0 ? n / c : 0), note, all }'
}

bench_into() { # bench_into <name> <store-url> <reset command...>
  local name="$1" url="$2"; shift 2
  local runs=()
  for _ in $(seq "$RUNS"); do
    "$@"
    runs+=("$(measure "${cmd[@]}" acct-etl --store "$url" --infile "$work/acct.csv" --log-level warn)")
  done
  report "$name" "" "${runs[@]}"
}

echo
echo "== throughput: $ROWS rows from a file =="
cat_runs=()
for _ in $(seq "$RUNS"); do cat_runs+=("$(measure cat "$work/acct.csv")"); done
report cat "(baseline: cat file > /dev/null) " "${cat_runs[@]}"

bench_into sqlite "sqlite:$work/bench.db" rm -f "$work/bench.db" "$work/bench.db-wal" "$work/bench.db-shm"

if command -v redis-server >/dev/null; then
  port="$(bun -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --logfile "" >/dev/null &
  redis_pid=$!
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  flush_redis() { redis-cli -p "$port" flushall >/dev/null; }
  bench_into redis "redis://127.0.0.1:$port/0" flush_redis
  echo "redis keys after the last run: $(redis-cli -p "$port" dbsize)"
else
  echo "redis    skipped: redis-server is not installed (apt-get install redis-server)"
fi

echo
echo "== start-up: one process reading one row =="
# Interleaved rounds (every command once per round, so load drift hits them alike), median wall and CPU
# time, ratio to a bare `bun -e 0` from the same rounds: on a shared machine hyperfine's sequential means
# were swamped by load. Two ways to start: --infile with --log-level warn (the figures before issue 5's
# start-up work used this), and as PowerMTA runs it (the row on stdin, default log level, --logfile).
one_url() { case "$1" in sqlite) echo "sqlite:$work/one.db" ;; redis) echo "redis://127.0.0.1:$port/1" ;; esac; }
startup=("bun -e 0")
for backend in sqlite redis; do
  [ "$backend" = redis ] && [ -z "$redis_pid" ] && continue
  startup+=("${cmd[*]} acct-etl --store $(one_url "$backend") --infile $work/one-row.csv --log-level warn")
  startup+=("${cmd[*]} acct-etl --store $(one_url "$backend") --logfile $work/acct-etl.log <$work/one-row.csv")
done
bun scripts/bench/startup.ts --rounds "${STARTUP_RUNS:-40}" --warmup 3 "${startup[@]}"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)"
