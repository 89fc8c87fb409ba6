-- Where a script function is defined ("hub.lua:12"), cached per function, and the note
-- the core's guard keeps of which one is about to run (core/guard.h): a call that has to
-- be ended by exiting the process is reported with its location. The note is also kept
-- per coroutine (each task runs on its own, core/task.h), for luahub.mistake to find a
-- script function whose frame a tail call replaced.
local C = require "luahub.ffi"

local getinfo, running = debug.getinfo, coroutine.running
local cache = setmetatable({}, { __mode = "k" })
local main = {}                                           -- the key of the main thread
local noted = setmetatable({}, { __mode = "k" })          -- coroutine -> function

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
function M.note(fn)
  noted[running() or main] = fn
  C.lh_guard_where(cache[fn] or M.of(fn))
end

-- The script function last noted in the running coroutine.
function M.running() return noted[running() or main] end

return M
