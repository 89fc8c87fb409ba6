-- Watching what a hub script recorded: specs poll a JSON HTTP route the script serves
-- (its events, counters) until what they expect shows up, with t.eventually.
local cjson = require "cjson.safe"
local t = require "luahub.testing"

local M = {}

--- GET path decoded as JSON; raises unless the answer is 200 with a JSON body.
function M.get_json(srv, path)
  local status, _, body = srv:http("GET", path)
  assert(status == 200, ("GET %s answered %s: %s"):format(path, tostring(status), tostring(body)))
  return assert(cjson.decode(body))
end

--- Polls GET path until predicate(value) holds. Returns the value; raises with the last
-- value seen when the deadline passes.
function M.wait_json(srv, path, predicate, timeout)
  return t.eventually(function()
    local value = M.get_json(srv, path)
    return predicate(value) and value, value
  end, { timeout = timeout, message = "GET " .. path .. " never satisfied the spec" })
end

--- True when list holds value.
function M.includes(list, value)
  for _, v in ipairs(list) do
    if v == value then return true end
  end
  return false
end

--- Polls the string list at path (default "/events") until it holds every wanted string;
-- returns the list.
function M.wait_events(srv, wanted, path)
  if type(wanted) == "string" then wanted = { wanted } end
  return M.wait_json(srv, path or "/events", function(events)
    for _, w in ipairs(wanted) do
      if not M.includes(events, w) then return false end
    end
    return true
  end)
end

--- Polls the string list at path (default "/events") until an entry matches the Lua
-- pattern; returns that entry (or its captures) and the list.
function M.wait_match(srv, pattern, path)
  local found
  local events = M.wait_json(srv, path or "/events", function(events)
    for _, e in ipairs(events) do
      if e:match(pattern) then found = e; return true end
    end
    return false
  end)
  return found, events
end

--- Index of the first entry of list equal to value, or nil.
function M.index_of(list, value)
  for i, v in ipairs(list) do
    if v == value then return i end
  end
end

return M
