-- Waiting inside a task (core/task.h). Every call the core makes into the script runs
-- on a pooled coroutine the core resumes; an operation that waits (hub.sleep,
-- hub.http.request, a Redis call) starts in C, which gives it a wait id, and yields that
-- id here. The core resumes the coroutine with the operation's results.
local running, yield = coroutine.running, coroutine.yield

local M = {}

-- The coroutines the core runs tasks on (it adds each one it makes): a wait anywhere
-- else (the script's load, a coroutine of the script's own, /metrics) cannot yield to it.
M.threads = setmetatable({}, { __mode = "k" })

-- Run before every yield: what points into memory the core reuses while the task waits
-- (a message borrowing the receive buffer) takes a copy. Set by init.lua.
M.before_yield = function() end

-- Raises, naming the caller, unless the running code may wait.
function M.check(name, level)
  local co = running()
  if co == nil or not M.threads[co] then
    error(name .. ": cannot wait here: only handlers, middleware, hooks, timers and HTTP "
      .. "routes may wait, in their own coroutine (not at load, not in a coroutine of the "
      .. "script's own)", (level or 2) + 1)
  end
end

-- Yields the wait id; returns what the operation pushed when it ended.
function M.wait(id)
  M.before_yield()
  return yield(id)
end

return M
