-- At most N log lines a second for one kind of event (a client whose every message
-- fails, a backend that is down): the first N of each second are logged, the rest only
-- counted, and the next second's first line is preceded by how many were left out.
local C = require "luahub.ffi"

local M = {}

-- A limiter: limiter() -> true when this event gets its line. summary(n) is logged when
-- a new second starts after n events were left out.
function M.new(per_second, summary)
  local started, logged, unlogged = -math.huge, 0, 0
  return function()
    local now = C.lh_clock()
    if now - started >= 1 then
      if unlogged > 0 then summary(unlogged) end
      started, logged, unlogged = now, 0, 0
    end
    if logged >= per_second then
      unlogged = unlogged + 1
      return false
    end
    logged = logged + 1
    return true
  end
end

return M
