-- Where a script function is defined ("hub.lua:12"), cached per function, and the note
-- the core's guard keeps of which one is about to run (core/guard.h): a call that has to
-- be ended by exiting the process is reported with its location.
local C = require "luahub.ffi"

local getinfo = debug.getinfo
local cache = setmetatable({}, { __mode = "k" })

local M = {}

function M.of(fn)
  local loc = cache[fn]
  if not loc then
    local info = getinfo(fn, "S")
    loc = info.short_src .. ":" .. info.linedefined
    cache[fn] = loc
  end
  return loc
end

-- Just before calling fn on the script's behalf.
function M.note(fn) C.lh_guard_where(cache[fn] or M.of(fn)) end

return M
