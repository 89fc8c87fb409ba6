-- The hub the history specs drive (spec/integration/history_spec.lua, spec/cluster/
-- history_redis_spec.lua): a client sends { op, room, data, since, limit, binary } as JSON
-- and gets the results of hub.publish or hub.history back, as JSON ({ r = results },
-- nil as false). Binary data travels as hex (and text too with hex = true). `config` is Lua source of a table merged
-- into hub.config.
return function(config, version)
  return ([[
local hub = require "luahub"
hub.config(%s)
local VERSION = %q

local function hex(s) return (s:gsub(".", function(c) return ("%%02x"):format(c:byte()) end)) end
local function unhex(s) return (s:gsub("..", function(h) return string.char(tonumber(h, 16)) end)) end

local function pack(...)
  local r = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if v == nil then v = false end
    if type(v) == "table" then
      for _, p in ipairs(v) do if p.binary then p.data = hex(p.data) end end
    end
    r[i] = v
  end
  return r
end

hub.handle(function(client, msg)
  local m = msg:json()
  local r
  if m.op == "publish" then
    local data = (m.binary or m.hex) and unhex(m.data) or m.data
    r = pack(hub.publish(m.room, data, { binary = m.binary, fan_out = m.fan_out }))
  elseif m.op == "history" then
    r = pack(hub.history(m.room, { since = m.since, limit = m.limit }))
  elseif m.op == "join" then
    r = pack(client:join(m.room))
  elseif m.op == "leave" then
    r = pack(client:leave(m.room))
  end
  client:send_json { r = r, version = VERSION }
end)
]]):format(config, version or "1")
end
