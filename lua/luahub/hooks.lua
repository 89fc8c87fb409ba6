-- The hooks registry: hub.on(name, fn). Several functions may hang on one hook; they run
-- in registration order. A hook that throws is reported to on_error and logged, never
-- propagated (an on_error hook that throws is only logged).
local where = require "luahub.where"
local mistake = require "luahub.mistake"
local suggest = require "luahub.suggest"

local M = {}

local names = {
  before_connect = true, after_connect = true, before_disconnect = true,
  after_disconnect = true, before_message = true, after_message = true, on_error = true,
  on_send_dropped = true, before_room_join = true, after_room_join = true,
  before_room_leave = true, after_room_leave = true,
}

local lists = {}
M.lists = lists
local report                     -- set by init: function(client, err)

function M.set_reporter(fn) report = fn end

local sorted_names = {}
for name in pairs(names) do sorted_names[#sorted_names + 1] = name end
table.sort(sorted_names)

function M.on(name, fn)
  if not names[name] then
    mistake.raise("hub.on", "unknown hook " .. mistake.describe(name),
      suggest.did_you_mean(name, sorted_names) or "the hooks are " .. table.concat(sorted_names, ", "))
  end
  if type(fn) ~= "function" then
    mistake.raise("hub.on", "expected a function for '" .. name .. "', got " .. mistake.describe(fn),
      ("hub.on(%q, function(...) ... end)"):format(name))
  end
  local l = lists[name]
  if not l then l = {}; lists[name] = l end
  l[#l + 1] = fn
end

function M.has(name) return lists[name] ~= nil end

-- Runs every function of a notification hook (results ignored).
function M.notify(name, client, ...)
  local l = lists[name]
  if not l then return end
  for i = 1, #l do
    where.note(l[i])
    local ok, err = xpcall(l[i], debug.traceback, client, ...)
    if not ok then
      if name == "on_error" then
        require("luahub").log.error("on_error hook failed: " .. tostring(err))
      else
        report(client, err)
      end
    end
  end
end

-- Runs a "before_*" gate: the first function returning false refuses, with its extra
-- results (status, reason or reason). A throwing gate refuses too (fail closed).
function M.gate(name, client, ...)
  local l = lists[name]
  if not l then return true end
  for i = 1, #l do
    where.note(l[i])
    local ok, r1, r2, r3 = xpcall(l[i], debug.traceback, client, ...)
    if not ok then
      report(client, r1)
      return false, "hook_error", "the " .. name .. " hook failed"
    end
    if r1 == false then return false, r2, r3 end
  end
  return true
end

return M
