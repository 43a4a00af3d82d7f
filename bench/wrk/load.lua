-- wrk script for `make bench`: a bounded number of requests, optionally one body per request.
--
--   wrk -t T -c C -d CAP -s load.lua [-H ...] URL -- BODIES TOTAL METHOD EXPECTED T MARKER
--
-- BODIES is a file with one request body per line, or "-" for no body. Line i goes to thread
-- (i mod T), and every line is sent exactly once, so a file of distinct refresh tokens means
-- every refresh request presents a distinct unused token. Without a file, TOTAL requests are
-- shared out between the threads.
--
-- wrk calls delay() before every request: a connection reserves its next request there, and
-- once its thread has reserved all of its requests it waits instead of sending anything else,
-- so the server answers exactly TOTAL requests. A thread whose requests are all answered
-- writes the file MARKER<id> and stops. wrk itself only ends when CAP (-d) is over or on
-- SIGINT: the runner sends SIGINT as soon as every thread's marker exists.
--
-- done() prints one line, "BENCH_JSON {...}", that the runner parses.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   local file, total = args[1], tonumber(args[2])
   method, expected = args[3], tonumber(args[4])
   threads_total = tonumber(args[5])
   marker = args[6]
   reserved = 0
   bodies = {}
   sent, answered, unexpected, overrun = 0, 0, 0, 0
   if file ~= "-" then
      local i = 0
      for line in io.lines(file) do
         if i % threads_total == id then
            table.insert(bodies, line)
         end
         i = i + 1
      end
      limit = #bodies
   else
      limit = math.floor(total / threads_total)
      if id < total % threads_total then
         limit = limit + 1
      end
   end
   wrk.method = method
   if file ~= "-" then
      wrk.headers["Content-Type"] = "application/json"
   end
   static = wrk.format(method)
   -- wrk calls request() once on the first thread before any thread runs, only to check the
   -- request (script_verify_request); nothing is sent, so that call must not use up a body.
   verifying = (id == 0)
end

local function finished()
   local f = io.open(marker .. id, "w")
   if f then
      f:write(answered, "\n")
      f:close()
   end
   wrk.thread:stop()
end

function delay()
   if reserved >= limit then
      return 3600000
   end
   reserved = reserved + 1
   return 0
end

function request()
   if verifying then
      verifying = false
      return static
   end
   sent = sent + 1
   if sent > limit then
      overrun = overrun + 1
   end
   if #bodies == 0 then
      return static
   end
   return wrk.format(method, nil, nil, bodies[math.min(sent, #bodies)])
end

function response(status, headers, body)
   answered = answered + 1
   if status ~= expected then
      unexpected = unexpected + 1
   end
   if answered == limit then
      finished()
   end
end

function done(summary, latency, requests)
   local sent_all, answered_all, unexpected_all, overrun_all = 0, 0, 0, 0
   for _, thread in ipairs(threads) do
      sent_all = sent_all + thread:get("sent")
      answered_all = answered_all + thread:get("answered")
      unexpected_all = unexpected_all + thread:get("unexpected")
      overrun_all = overrun_all + thread:get("overrun")
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
         .. '"mean_us":%.1f,"sent":%d,"answered":%d,"unexpected_status":%d,"overrun":%d,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
      summary.requests, summary.duration, latency:percentile(50.0), latency:percentile(90.0),
      latency:percentile(99.0), latency.max, latency.mean, sent_all, answered_all, unexpected_all,
      overrun_all, e.connect, e.read, e.write, e.status, e.timeout))
end
