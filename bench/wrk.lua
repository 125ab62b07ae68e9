-- Closed-loop webhooks for wrk: each thread takes its share of pre-signed requests from a file
-- ("<header>\t<value>\t<body>" per line) so that every request carries a distinct message id.
local counter = 1
local threads = {}

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  reqs = {}
  codes = {}
  retry_after = 0
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == tid - 1 then
      local a = line:find("\t", 1, true)
      local b = line:find("\t", a + 1, true)
      local headers = {["Content-Type"] = "application/json"}
      headers[line:sub(1, a - 1)] = line:sub(a + 1, b - 1)
      reqs[#reqs + 1] = wrk.format("POST", nil, headers, line:sub(b + 1))
    end
    i = i + 1
  end
  n = 0
end

function request()
  n = n + 1
  if n > #reqs then n = 1 end
  return reqs[n]
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
  if status ~= 200 and (headers["retry-after"] or headers["Retry-After"]) then
    retry_after = retry_after + 1
  end
end

function done(summary, latency, requests)
  local all = {}
  local ra = 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("codes")) do all[k] = (all[k] or 0) + v end
    ra = ra + t:get("retry_after")
  end
  local parts = {}
  for k, v in pairs(all) do parts[#parts + 1] = string.format('"%d": %d', k, v) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"codes": {%s}, "retry_after": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    table.concat(parts, ", "), ra, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout))
end
