-- Shared by the wrk scripts (loaded with dofile; BENCH_LUA names this folder).
-- Each wrk thread has its own Lua state: setup() numbers the threads so
-- each seeds its own random sequence; done() prints one BENCH line that
-- tests/bench/measure.py reads.

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("thread_no", counter)
end

function seed_random()
  math.randomseed(os.time() * 1000 + (thread_no or 0) * 7919)
end

-- The lines of a file (ids, or "id token" pairs).
function read_lines(path)
  local t = {}
  for line in io.lines(path) do
    if #line > 0 then t[#t + 1] = line end
  end
  assert(#t > 0, "no lines in " .. path)
  return t
end

function bearer(token)
  return { ["Authorization"] = "Bearer " .. token }
end

-- errors: wrk's status errors (status >= 400) and socket errors
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d status_errors=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
