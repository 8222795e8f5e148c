-- wrk script for bench/signer.py.
-- With BENCH_BODIES (a file of JSON bodies, one a line) it POSTs them to BENCH_PATH in
-- rotation, each thread from its own offset; without it, it GETs BENCH_PATH.
-- done() writes requests, errors, latency percentiles and the latency histogram (each
-- latency seen, in microseconds, with its count) as JSON to BENCH_OUT.

local path = os.getenv("BENCH_PATH") or "/"
local bodies = os.getenv("BENCH_BODIES") or ""
local prepared = {}

local threads = 0
local position = 0

function setup(thread)
  thread:set("offset", threads * 97)
  threads = threads + 1
end

-- Requests are formatted here, not when the script loads: wrk.init runs this after it has
-- set wrk.headers' Host, which wrk.format copies into each request as a real client sends
-- it (formatted at load time, they went without one, and gunicorn parsed no header).
function init(args)
  if bodies ~= "" then
    for line in io.lines(bodies) do
      if line ~= "" then
        prepared[#prepared + 1] = wrk.format(
          "POST", path, { ["Content-Type"] = "application/json" }, line
        )
      end
    end
  else
    prepared[1] = wrk.format("GET", path)
  end
  position = offset % #prepared
end

function request()
  position = position % #prepared + 1
  return prepared[position]
end

function done(summary, latency, _)
  local e = summary.errors
  local histogram = {}
  for i = 1, #latency do
    local value, count = latency(i)
    histogram[i] = string.format("[%d, %d]", value, count)
  end
  local out = assert(io.open(os.getenv("BENCH_OUT"), "w"))
  out:write(string.format(
    '{"requests": %d, "durationUs": %d, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latencyUs": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}, '
      .. '"histogramUs": [' .. table.concat(histogram, ", ") .. ']}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean
  ))
  out:close()
end
