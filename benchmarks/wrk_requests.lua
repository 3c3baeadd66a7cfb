-- wrk script for bench_serving.py: replays a file of requests and checks every answer.
--   wrk -t1 -c8 -d20s --latency -s benchmarks/wrk_requests.lua http://127.0.0.1:PORT -- requests.tsv
-- Each line of requests.tsv is METHOD <tab> PATH <tab> BODY (BODY may be empty). Each connection's
-- thread starts at its own offset and cycles through the lines. An answer counts as right only when
-- it is a 200 whose body holds "results"; done() prints one JSON line, prefixed "WRK_JSON ".

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   requests = {}
   for line in io.lines(args[1]) do
      local method, path, body = line:match("^([^\t]+)\t([^\t]+)\t?(.*)$")
      local headers = {}
      if body == "" then
         body = nil
      else
         headers["Content-Type"] = "application/json"
      end
      table.insert(requests, wrk.format(method, path, headers, body))
   end
   position = (id * 7919) % #requests
   wrong = 0
   first_wrong = ""
end

function request()
   position = position % #requests + 1
   return requests[position]
end

function response(status, headers, body)
   if status ~= 200 or not body:find('"results"', 1, true) then
      wrong = wrong + 1
      if first_wrong == "" then
         first_wrong = status .. " " .. body:sub(1, 200)
      end
   end
end

function done(summary, latency, requests)
   local wrong_answers, samples = 0, {}
   for _, thread in ipairs(threads) do
      wrong_answers = wrong_answers + thread:get("wrong")
      local sample = thread:get("first_wrong")
      if sample ~= "" then
         table.insert(samples, '"' .. sample:gsub('[^%w ]', '_') .. '"')
      end
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "socket_errors": %d, "wrong_answers": %d, '
         .. '"p50_us": %d, "p95_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d, "samples": [%s]}\n',
      summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, wrong_answers,
      latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean, latency.max,
      table.concat(samples, ", ")))
end
