-- Waiting inside a task (core/task.h). Every call the core makes into the script runs
-- on a pooled coroutine the core resumes; an operation that waits (hub.sleep,
-- hub.http.request, a Redis call) starts in C, which gives it a wait id, and yields that
-- id here. The core resumes the coroutine with the operation's results.
local C = require "luahub.ffi"
local mistake = require "luahub.mistake"
local log_limit = require "luahub.log_limit"

local running, yield = coroutine.running, coroutine.yield

local M = {}

-- The coroutines the core runs tasks on (it adds each one it makes): a wait anywhere
-- else (the script's load, a coroutine of the script's own, /metrics) cannot yield to it.
M.threads = setmetatable({}, { __mode = "k" })

-- Run before every yield: what points into memory the core reuses while the task waits
-- (a message borrowing the receive buffer) takes a copy. Set by init.lua.
M.before_yield = function() end

-- Raises, at the script's line, unless the running code may wait.
function M.check(name)
  local co = running()
  if co == nil or not M.threads[co] then
    mistake.raise(name, "cannot wait here", "only handlers, middleware, hooks, timers and HTTP "
      .. "routes may wait, in their own coroutine (not at load, not in a coroutine of the "
      .. "script's own)")
  end
end

local LOG_WARN = 2
local FAILURE_LINES_PER_SECOND = 10
local log_failure = log_limit.new(FAILURE_LINES_PER_SECOND, function(n)
  local msg = ("outbound calls: %d more failures not logged (at most %d a second; "
    .. "luahub_outbound_calls_total counts them all)"):format(n, FAILURE_LINES_PER_SECOND)
  C.lh_log(LOG_WARN, 0, msg, #msg, nil)
end)

-- A failed call (nil, code, detail) gets a warning naming the script line that made it.
local function logged(name, ok, code, detail, ...)
  if ok == nil and type(code) == "string" and name and log_failure() then
    local msg = ("%s failed at %s: %s (%s)"):format(name, (mistake.location(name) or "?"), code, tostring(detail))
    C.lh_log(LOG_WARN, 0, msg, #msg, nil)
  end
  return ok, code, detail, ...
end

-- A failure found after the wait (an error the answer reports), logged as one of the
-- call: returns nil, code, detail.
function M.failed(name, code, detail)
  return logged(name, nil, code, detail)
end

-- Yields the wait id; returns what the operation pushed when it ended. With a name
-- ("hub.http.request"), a failure is logged with the script's line.
function M.wait(id, name)
  M.before_yield()
  return logged(name, yield(id))
end

return M
