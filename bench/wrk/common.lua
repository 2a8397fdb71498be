-- Shared by the bench/wrk scenario scripts; bench/run.py runs wrk from this folder.
--
-- Every scenario script takes the same arguments after wrk's `--`:
--   DATA_DIR  folder with runs.txt (run ids), experiments.txt (open experiment ids) and
--             lists.txt (query strings for GET /v1/runs), one per line, written by bench/run.py
--   IDEM      1 to send a unique Idempotency-Key with every POST, 0 not to
--   NONCE     unique per wrk invocation, so keys never repeat across runs
-- Headers given with -H (e.g. "Connection: close") are kept on every request.

local thread_counter = 0

function setup(thread)
   thread_counter = thread_counter + 1
   thread:set("thread_id", thread_counter)
end

bench = {}
local key_counter = 0
local key_prefix = "bench"

function bench.lines(path)
   local items = {}
   for line in io.lines(path) do
      if #line > 0 then items[#items + 1] = line end
   end
   if #items == 0 then error(path .. " is empty") end
   return items
end

function bench.init(args)
   local dir = args[1] or error("usage: wrk ... -s SCRIPT URL -- DATA_DIR IDEM NONCE")
   bench.idempotency = args[2] == "1"
   key_prefix = string.format("bench-%s-%d-", args[3] or "x", thread_id or 0)
   math.randomseed(os.time() + (thread_id or 0) * 7919)
   return {
      runs = bench.lines(dir .. "/runs.txt"),
      experiments = bench.lines(dir .. "/experiments.txt"),
      lists = bench.lines(dir .. "/lists.txt"),
   }
end

function bench.pick(items)
   return items[math.random(#items)]
end

local function headers(extra)
   local merged = {}
   for name, value in pairs(wrk.headers) do merged[name] = value end
   for name, value in pairs(extra or {}) do merged[name] = value end
   return merged
end

function bench.get(path)
   return wrk.format("GET", path, headers({ Accept = "application/json" }))
end

function bench.post(path, body)
   local extra = { Accept = "application/json" }
   if body then extra["Content-Type"] = "application/json" else extra["Content-Length"] = "0" end
   if bench.idempotency then
      key_counter = key_counter + 1
      extra["Idempotency-Key"] = key_prefix .. key_counter
   end
   return wrk.format("POST", path, headers(extra), body)
end

local run_counter = 0

function bench.create(experiment_id)
   run_counter = run_counter + 1
   local body = string.format(
      '{"name":"wrk-%s-%d","tags":["bench","gpu"],"params":{"lr":0.001,"batch":64},'
         .. '"git_sha":"%040x"}', key_prefix, run_counter, run_counter)
   return bench.post("/v1/experiments/" .. experiment_id .. "/runs", body)
end

-- Runs whose next lifecycle action is due, fed by the responses (create -> start -> finish).
-- wrk does not say which request a response answers, so only runs this script created are
-- followed: a 201 draft is queued for start, and its 200 running answer for finish.
local pending, head, tail = {}, 1, 0
local started = {}
local MAX_PENDING = 10000

local function queue(path)
   if tail - head < MAX_PENDING then
      tail = tail + 1
      pending[tail] = path
   end
end

function bench.follow(status, body)
   if (status ~= 200 and status ~= 201) or body:sub(1, 6) ~= '{"id":' then return end
   local id = body:match('^{"id":"([%x%-]+)"')
   local state = body:match('"status":"(%a+)"')
   if not id then return end
   if status == 201 and state == "draft" then
      started[id] = true
      queue("/v1/runs/" .. id .. "/start")
   elseif status == 200 and state == "running" and started[id] then
      started[id] = nil
      queue("/v1/runs/" .. id .. "/finish")
   end
end

function bench.next_transition()
   if head > tail then return nil end
   local path = pending[head]
   pending[head] = nil
   head = head + 1
   return bench.post(path, nil)
end

-- One JSON line for bench/run.py: wrk's own summary, latency in microseconds.
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,'
         .. '"read_errors":%d,"write_errors":%d,"timeouts":%d,"non_2xx_3xx":%d,'
         .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
      e.timeout, e.status, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean))
end
