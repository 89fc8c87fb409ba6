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

-- The directory luahub's own modules load from (this file's), to tell them from the script.
local own = getinfo(1, "S").source:match("^@(.*)where%.lua$")

-- The script's line that called into luahub ("hub.lua:12"): the first frame, from the
-- innermost out, whose code is not luahub's own.
function M.caller()
  for level = 2, 50 do
    local info = getinfo(level, "Sl")
    if not info then return "?" end
    local file = info.source:match("^@(.*)$")
    if info.what ~= "C" and not (own and file and file:sub(1, #own) == own) then
      return info.short_src .. ":" .. (info.currentline or 0)
    end
  end
  return "?"
end

-- Just before calling fn on the script's behalf.
function M.note(fn) C.lh_guard_where(cache[fn] or M.of(fn)) end

return M
