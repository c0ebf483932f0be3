-- wrk script for scripts/bench/tracker.sh: cycles through the request paths in $PATHS_FILE, each thread
-- starting at a different offset, so the load spreads over every token as real mail does.
local paths = {}
local i = 0

function init(args)
  local file = os.getenv("PATHS_FILE")
  for line in io.lines(file) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  i = math.random(#paths)
end

request = function()
  i = i + 1
  if i > #paths then i = 1 end
  return wrk.format("GET", paths[i], { ["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36" })
end

-- One machine-readable line for the shell script to pick up.
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d non2xx3xx=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
