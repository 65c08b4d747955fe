-- wrk script: POST pre-signed Stripe webhook bodies, one after another.
--
-- Each wrk thread reads its own file, <dir>/thread-<n>.txt, of line pairs: a
-- Stripe-Signature header, then the one-line JSON body it signs. Bodies are signed by
-- bench/loadgen.py before the clock starts, as Stripe signs before it sends.
--   wrk -s bench/signed_posts.lua URL -- DIR [START] [COUNT]
-- Sends requests START+1 ... of each file; COUNT > 0 sends only START+1 .. START+COUNT,
-- again and again (duplicates); past the end of the file it starts over and counts it.
-- done() prints one JSON line with the totals and latency percentiles.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  requests, sent, wrapped = {}, 0, 0
  start = tonumber(args[2] or "0")
  cycle = tonumber(args[3] or "0")
  local lines = io.lines(args[1] .. "/thread-" .. id .. ".txt")
  for signature in lines do
    local body = lines()
    requests[#requests + 1] = wrk.format("POST", nil, {
      ["Content-Type"] = "application/json",
      ["Stripe-Signature"] = signature,
    }, body)
  end
  if cycle <= 0 then cycle = #requests - start end
end

function request()
  sent = sent + 1
  local index = start + (sent - 1) % cycle + 1
  if index > #requests then
    index = (index - 1) % #requests + 1
    wrapped = wrapped + 1
  end
  return requests[index]
end

function done(summary, latency, _)
  local per_thread, wraps = {}, 0
  for _, thread in ipairs(threads) do
    per_thread[#per_thread + 1] = tostring(thread:get("sent"))
    wraps = wraps + thread:get("wrapped")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %f, "errors": %d, "p50_ms": %f, "p95_ms": %f, ' ..
    '"wrapped": %d, "per_thread": [%s]}\n',
    summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    wraps, table.concat(per_thread, ", ")))
end
