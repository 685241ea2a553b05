-- Shared by every bench script (after _loadgen's thread prologue): per-thread tallies, and the
-- one RESULT line (JSON) that done() prints for bench/_wrk.py.
statuses = {}  -- response status -> count, this thread
tally = {}     -- named counters of this thread (first / returning logins, rotated tokens, ...)

function count_status(status)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function bump(name)
  tally[name] = (tally[name] or 0) + 1
end

local function merged(name)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get(name) or {}) do total[k] = (total[k] or 0) + v end
  end
  return total
end

local function json_counts(map)
  local parts = {}
  for k, v in pairs(map) do parts[#parts + 1] = string.format('"%s":%d', k, v) end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"duration_us":%d,"requests":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"mean_us":%.1f,"statuses":%s,"tally":%s}\n',
    summary.duration, summary.requests, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, json_counts(merged("statuses")), json_counts(merged("tally"))))
  if after_done then after_done() end
end
