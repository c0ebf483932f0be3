#!/usr/bin/env bash
# Soak of `mtatrack serve` (tracker + feeder in one process on one SQLite file; the feeder prints NDJSON to
# stdout, counted here): wrk hits opens and clicks of many distinct messages for a while, the script samples
# the process's memory and the store's size every 15 s, and at the end compares the events delivered with
# the requests answered. What it shows: memory and disk stay flat under sustained load, and no event is lost.
#
# Usage: scripts/bench/serve-soak.sh [-d seconds] [-n messages] [-c connections] [-a "extra serve flags"]
# Needs: wrk, bun (apt-get install wrk).
set -euo pipefail

duration=150 messages=150000 connections=64 extra=""
while getopts "d:n:c:a:" opt; do
  case $opt in
    d) duration=$OPTARG ;; n) messages=$OPTARG ;; c) connections=$OPTARG ;; a) extra=$OPTARG ;;
    *) sed -n '6,7p' "$0"; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$root/node_modules/.bin:$PATH"
for tool in wrk bun; do
  command -v "$tool" >/dev/null || { echo "serve-soak.sh: $tool is missing (apt-get install wrk)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/mtatrack-soak.XXXXXX")
serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

key="soak:$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
bun "$root/scripts/bench/tracker-tokens.ts" open "$messages" "$key" > "$work/open.txt"
bun "$root/scripts/bench/tracker-tokens.ts" click "$messages" "$key" > "$work/click.txt"
paste -d '\n' "$work/open.txt" "$work/click.txt" > "$work/paths.txt"
port=$(bun -e 'const s=Bun.listen({hostname:"127.0.0.1",port:0,socket:{data(){}}});console.log(s.port);s.stop(true)')

# The events go to stdout as NDJSON (no sink configured); a FIFO lets the script count them and still know
# serve's own pid.
mkfifo "$work/events"
wc -l < "$work/events" > "$work/events.count" &
counter_pid=$!
MTATRACK_LINK_KEYS=$key bun "$root/src/main.ts" serve --tracker-hostport "127.0.0.1:$port" --store "sqlite:$work/store.db" \
  --log-level warn $extra > "$work/events" 2> "$work/serve.log" & serve_pid=$!
for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/robots.txt" && break; sleep 0.1; done

sample() {
  local rss hwm db
  rss=$(awk '/VmRSS/ { print $2 }' "/proc/$serve_pid/status")
  hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$serve_pid/status")
  db=$(du -k "$work"/store.db* | awk '{ s += $1 } END { print s }')
  echo "$1 rss $((rss / 1024)) MB, peak $((hwm / 1024)) MB, store $((db / 1024)) MB"
}

echo "serve-soak: $messages messages (opens and clicks), wrk -t2 -c$connections -d${duration}s${extra:+, serve flags $extra}, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
PATHS_FILE=$work/paths.txt wrk -t2 -c"$connections" -d"${duration}s" -s "$root/scripts/bench/tracker.lua" "http://127.0.0.1:$port" > "$work/wrk.txt" &
wrk_pid=$!
elapsed=0
while kill -0 "$wrk_pid" 2>/dev/null; do
  sample "t=${elapsed}s"
  sleep 15
  elapsed=$((elapsed + 15))
done
wait "$wrk_pid"
grep '^RESULT' "$work/wrk.txt"
sleep 5
sample "5 s after the load:"

kill -TERM "$serve_pid"
wait "$serve_pid" || { echo "serve-soak: serve did not exit 0" >&2; cat "$work/serve.log" >&2; exit 1; }
serve_pid=""
wait "$counter_pid"
answered=$(sed -n 's/^RESULT requests=\([0-9]*\).*/\1/p' "$work/wrk.txt")
events=$(tr -d ' ' < "$work/events.count")
# wrk counts the requests it saw answered; up to one per connection was still in flight when it stopped,
# and those were answered (and their events queued) after.
echo "requests answered $answered, events delivered $events"
if (( events < answered || events > answered + connections )); then
  echo "serve-soak: events delivered ($events) do not match the requests answered ($answered, + up to $connections in flight)" >&2
  exit 1
fi
echo "serve-soak: every answered request's event was delivered"
