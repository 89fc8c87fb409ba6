--- luahub.testing.wait: the one way to wait. Whatever waits for something to happen —
-- a spec, a spec helper, another module of luahub.testing — polls a function here
-- until it succeeds or a deadline passes; nothing sleeps a fixed time and nothing
-- writes its own deadline loop.
local socket = require "socket"
local cjson = require "cjson.safe"

local now, sleep = socket.gettime, socket.sleep
local select, unpack, concat = select, unpack, table.concat

local M = {}

--- Seconds every wait uses when the caller gives no timeout. luahub.testing forwards
-- t.default_timeout here, so setting it there changes every wait.
M.default_timeout = 5

local DEFAULT_INTERVAL = 0.01

local function pack(...) return { n = select("#", ...), ... } end

local function describe_value(v)
  if type(v) == "string" then
    return ("%q"):format(#v > 1000 and v:sub(1, 1000) .. "..." or v)
  elseif type(v) == "table" then
    return cjson.encode(v) or tostring(v)
  end
  return tostring(v)
end

-- What fn returned the last time, as `false, "3 of 4 joined"`, for the failure message.
local function describe_results(results)
  if results.n == 0 then return "nothing" end
  local parts = {}
  for i = 1, results.n do parts[i] = describe_value(results[i]) end
  return concat(parts, ", ")
end

local function check_arguments(fn, opts, caller)
  if type(fn) ~= "function" then error(caller .. ": argument #1 must be a function", 3) end
  if opts ~= nil and type(opts) ~= "table" then error(caller .. ": argument #2 must be a table", 3) end
end

-- The loop behind poll and eventually. The deadline is checked right after a call,
-- never after a sleep: the wait fails only once a call has ended past the deadline, so
-- a condition that holds by then is always seen.
local function wait(fn, opts)
  opts = opts or {}
  local timeout = opts.timeout or M.default_timeout
  local deadline = now() + timeout
  while true do
    local results = pack(fn())
    if results[1] then return unpack(results, 1, results.n) end
    if now() >= deadline then
      return nil, ("%s (not within %gs; last: %s)"):format(opts.message or "the condition never held",
                                                         timeout, describe_results(results))
    end
    sleep(opts.interval or DEFAULT_INTERVAL)
  end
end

--- Calls fn until its first result is truthy and returns all its results.
-- opts: { timeout = t.default_timeout, interval = 0.01, message = "what never happened" }
-- When timeout seconds pass first, returns nil and a message made of opts.message, the
-- timeout and what fn returned last (so fn can return `false, why` to explain itself).
-- An error raised by fn is not retried: it fails the wait at once.
function M.poll(fn, opts)
  check_arguments(fn, opts, "poll")
  return wait(fn, opts)
end

--- As poll, but raises the message (a failed spec) instead of returning it.
--   local s = t.eventually(function() local s = stats(); return s.clients == 2 and s, s.clients end,
--                          { message = "the second client was never counted" })
--   -- fails with: the second client was never counted (not within 5s; last: false, 1)
function M.eventually(fn, opts)
  check_arguments(fn, opts, "eventually")
  local results = pack(wait(fn, opts))
  if not results[1] then error(results[2], 2) end
  return unpack(results, 1, results.n)
end

return M
