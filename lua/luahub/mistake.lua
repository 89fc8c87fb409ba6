-- Programming mistakes in a script's calls into the API (a wrong argument, an unknown hook
-- name) raise "hub.lua:14: client:send: got a table; use client:send_json": where the
-- script made the call, what is wrong, and the fix. The location is the script's own line
-- however deep in this package the check runs, also for a call made as a tail call.
local util = require "jit.util"
local where = require "luahub.where"
-- The opcode names, from LuaJIT's jit/vmdef.lua (libluajit's Lua files, on the default
-- package.path). Without it a tail call's line is not found, and the message names the
-- script function instead.
local has_vmdef, vmdef = pcall(require, "jit.vmdef")
local bcnames = has_vmdef and vmdef.bcnames

local getinfo, band, rshift = debug.getinfo, bit.band, bit.rshift

local M = {}

-- Every chunk of this package is named like this file ("@/usr/local/share/.../luahub/").
local package_prefix = getinfo(1, "S").source:match("^(.*)mistake")

local function in_package(info) return info.source:sub(1, #package_prefix) == package_prefix end

local function opcode(ins)
  local at = band(ins, 0xff) * 6
  return bcnames:sub(at + 1, at + 6)
end

-- The lines of fn's tail calls of a field or method named name (`return c:send(x)`,
-- `return hub.to_room(r, x)`), read from its bytecode.
local function tail_call_lines(fn, name)
  local lines, field_in = {}, {}   -- slot -> the field name a TGETS last loaded into it
  for pc = 1, math.huge do
    local ins = util.funcbc(fn, pc)
    if not ins then break end
    local op, a = opcode(ins), band(rshift(ins, 8), 0xff)
    if op == "TGETS " then
      field_in[a] = util.funck(fn, -band(rshift(ins, 16), 0xff) - 1)
    elseif (op == "CALLT " or op == "CALLMT") and field_in[a] == name then
      lines[#lines + 1] = util.funcinfo(fn, pc).currentline
    end
  end
  return lines
end

-- "hub.lua:14", or nil when no frame of the script can be found. The first Lua frame
-- outside this package called the API, unless a tail call replaced that frame: then the
-- script function the server is running is no longer on the stack, and the call's line
-- is found in that function's code.
function M.location(api_name)
  local running = where.running()
  local caller, running_on_stack
  for level = 3, math.huge do
    local info = getinfo(level, "Slf")
    if not info then break end
    running_on_stack = running_on_stack or info.func == running
    if not caller and info.what ~= "C" and not in_package(info) then caller = info end
  end
  if running and not running_on_stack and bcnames then
    local lines = tail_call_lines(running, api_name:match("[%w_]+$"))
    if #lines > 0 then
      return getinfo(running, "S").short_src .. ":" .. table.concat(lines, " or ")
    end
  end
  if caller then return caller.short_src .. ":" .. caller.currentline end
  if running then return where.of(running) end
end

-- Raises "LOCATION: api_name: problem; hint".
function M.raise(api_name, problem, hint)
  local msg = api_name .. ": " .. problem .. (hint and "; " .. hint or "")
  local loc = M.location(api_name)
  error(loc and loc .. ": " .. msg or msg, 0)
end

-- "a table", "nil", "a number (42)", "\"text\"": how a wrong argument is named in a message.
function M.describe(v)
  local t = type(v)
  if t == "nil" then return "nil" end
  if t == "string" then return ("%q"):format(#v > 40 and v:sub(1, 40) .. "..." or v) end
  if t == "number" or t == "boolean" then return ("a %s (%s)"):format(t, tostring(v)) end
  return "a " .. t
end

return M
