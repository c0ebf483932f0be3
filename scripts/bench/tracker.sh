#!/usr/bin/env bash
# Benchmark of `mtatrack tracker` against the physical ceiling for answering a pixel on this machine:
# nginx's empty_gif, measured in the same run. wrk cycles through >= 10,000 distinct v2 tokens (a Lua
# script), pixel and click, with the Redis and the SQLite store. Prints one Markdown table of medians.
#
# Usage: scripts/bench/tracker.sh [-d seconds] [-c connections] [-r runs] [-n tokens] [-t wrk-threads] [-w tracker-workers] [-W warm-up-seconds] [-a "extra tracker flags"]
# Besides req/s and latency it reports each server's CPU time per request (user + sys of its processes, from
# /proc, over the measured run): on a shared machine that moves much less than req/s does.
# Needs: wrk, nginx (nginx-light is enough), redis-server, bun (apt-get install wrk nginx-light redis-server).
set -euo pipefail

duration=10 connections=64 runs=3 tokens=20000 threads=2 workers=1 warmup=2 extra=""
while getopts "d:c:r:n:t:w:W:a:" opt; do
  case $opt in
    d) duration=$OPTARG ;; c) connections=$OPTARG ;; r) runs=$OPTARG ;; n) tokens=$OPTARG ;; t) threads=$OPTARG ;; w) workers=$OPTARG ;; W) warmup=$OPTARG ;; a) extra=$OPTARG ;;
    *) sed -n '2,9p' "$0"; exit 2 ;;
  esac
done
(( tokens >= 10000 )) || { echo "tracker.sh: use at least 10000 tokens (-n)" >&2; exit 2; }

root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$root/node_modules/.bin:$PATH"
for tool in wrk nginx redis-server bun; do
  command -v "$tool" >/dev/null || { echo "tracker.sh: $tool is missing (apt-get install wrk nginx-light redis-server)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/mtatrack-bench-tracker.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { bun -e 'const s=Bun.listen({hostname:"127.0.0.1",port:0,socket:{data(){}}});console.log(s.port);s.stop(true)'; }
wait_http() { for _ in $(seq 1 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "tracker.sh: $1 did not answer" >&2; exit 1; }

key="bench:$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"

# nginx: the same 1x1 GIF from memory, access log off, one worker per core (its normal setup).
nginx_port=$(free_port)
mkdir -p "$work/nginx/logs"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { empty_gif; add_header Cache-Control "no-store, no-cache, must-revalidate, max-age=0"; }
  }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" & nginx_pid=$!; pids+=($nginx_pid)

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --logfile "$work/redis.log" & redis_pid=$!; pids+=($redis_pid)

bun "$root/scripts/bench/tracker-tokens.ts" open "$tokens" "$key" > "$work/pixel.txt"
bun "$root/scripts/bench/tracker-tokens.ts" click "$tokens" "$key" > "$work/click.txt"
wait_http "http://127.0.0.1:$nginx_port/x"

# CPU clock ticks (user + sys) used so far by a process and its children (nginx's or the tracker's workers).
cpu_ticks() {
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    [ -r "/proc/$pid/stat" ] && total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
  done
  echo "$total"
}
hz=$(getconf CLK_TCK)

warm() { # url paths-file: one short pass first, so JIT warm-up and first hits are not in the measured runs
  (( warmup > 0 )) && PATHS_FILE=$2 wrk -t"$threads" -c"$connections" -d"${warmup}s" -s "$root/scripts/bench/tracker.lua" "$1" > /dev/null
  return 0
}

run_wrk() { # url paths-file server-pid -> "rps p50 p99 errors server-cpu-us/req redis-cpu-us/req"
  local s0 r0 s1 r1 out
  s0=$(cpu_ticks "$3"); r0=$(cpu_ticks "$redis_pid")
  out=$(PATHS_FILE=$2 wrk -t"$threads" -c"$connections" -d"${duration}s" --latency -s "$root/scripts/bench/tracker.lua" "$1")
  s1=$(cpu_ticks "$3"); r1=$(cpu_ticks "$redis_pid")
  echo "$out" | awk -v s=$((s1 - s0)) -v r=$((r1 - r0)) -v hz="$hz" '/^RESULT/ {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    n = v["requests"] > 0 ? v["requests"] : 1
    printf "%s %s %s %d %.1f %.1f\n", v["rps"], v["p50_ms"], v["p99_ms"], v["errors"] + v["non2xx3xx"], s / hz * 1e6 / n, r / hz * 1e6 / n }'
}

results="$work/results.txt"
: > "$results"
for store in redis sqlite; do
  port=$(free_port)
  prefix="bench$RANDOM:"
  case $store in
    redis) url="redis://127.0.0.1:$redis_port/0?prefix=$prefix" ;;
    sqlite) url="sqlite:$work/store.db" ;;
  esac
  MTATRACK_LINK_KEYS=$key bun "$root/src/main.ts" tracker -in_hostport "127.0.0.1:$port" --store "$url" \
    --spool "$work/tracker-$store.spool" --workers "$workers" --log-level warn $extra 2>> "$work/tracker.log" & tracker_pid=$!
  pids+=($tracker_pid)
  wait_http "http://127.0.0.1:$port/robots.txt"
  warm "http://127.0.0.1:$nginx_port" "$work/pixel.txt"
  for kind in pixel click; do
    warm "http://127.0.0.1:$port" "$work/$kind.txt"
    for run in $(seq 1 "$runs"); do
      # nginx and the tracker back to back in every run, so both see the same machine load.
      echo "nginx $store $kind $run $(run_wrk "http://127.0.0.1:$nginx_port" "$work/pixel.txt" "$nginx_pid")" >> "$results"
      echo "tracker $store $kind $run $(run_wrk "http://127.0.0.1:$port" "$work/$kind.txt" "$tracker_pid")" >> "$results"
      tail -2 "$results" >&2
      # No feeder drains the queue here: at 60k events a second the stream would hold gigabytes by the end.
      if [ "$store" = redis ] && command -v redis-cli >/dev/null; then
        redis-cli -p "$redis_port" XTRIM "${prefix}mtatrack:queue:events" MAXLEN 0 > /dev/null
      fi
    done
  done
  kill "$tracker_pid"; wait "$tracker_pid" 2>/dev/null || true
done

# Medians per (server, store, kind), then the ratio of the tracker's median req/s to nginx's in the same rows.
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo
# The CPU model too: ratios move with the machine (session 5's AMD VM and session 6's Xeon differ by 1.5x).
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
echo "wrk -t$threads -c$connections -d${duration}s, $tokens distinct tokens, median of $runs runs, tracker workers $workers${extra:+, tracker flags $extra}, $(nproc) CPUs (${cpu_model:-unknown model}), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| store | request | tracker req/s | p50 ms | p99 ms | nginx empty_gif req/s | ratio | ratio per run | errors | tracker CPU µs/req | redis-server µs/req | nginx CPU µs/req |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
col() { awk -v srv="$1" -v s="$2" -v k="$3" -v c="$4" '$1 == srv && $2 == s && $3 == k { print $c }' "$results" | median; }
for store in redis sqlite; do
  for kind in pixel click; do
    t_rps=$(col tracker $store $kind 5) n_rps=$(col nginx $store $kind 5)
    errs=$(awk -v s=$store -v k=$kind '$1 == "tracker" && $2 == s && $3 == k { e += $8 } END { print e + 0 }' "$results")
    ratio=$(awk -v a="$t_rps" -v b="$n_rps" 'BEGIN { printf "%.0f%%", 100 * a / b }')
    # Each run's tracker against the nginx pass right before it: the machine drifts less within a pair than
    # across runs, so the median of these moves less than the ratio of the two medians. Median (lowest-highest).
    pair=$(awk -v s=$store -v k=$kind '$2 == s && $3 == k { r[$1, $4] = $5; runs[$4] = 1 }
      END { for (n in runs) if (r["nginx", n] > 0) print 100 * r["tracker", n] / r["nginx", n] }' "$results" | sort -g |
      awk '{ a[NR] = $1 } END { printf "%.0f%% (%.0f-%.0f)", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2, a[1], a[NR] }')
    redis_us=$([ $store = redis ] && col tracker $store $kind 10 || echo "-")
    printf "| %s | %s | %.0f | %.2f | %.2f | %.0f | %s | %s | %s | %s | %s | %s |\n" "$store" "$kind" "$t_rps" "$(col tracker $store $kind 6)" "$(col tracker $store $kind 7)" \
      "$n_rps" "$ratio" "$pair" "$errs" "$(col tracker $store $kind 9)" "$redis_us" "$(col nginx $store $kind 9)"
  done
done
