-- The hub the protocol specs run: tokens "ok-N" valid for N seconds ("ok" for ever),
-- rooms "open:*" anyone may subscribe and publish to, "vip:*" only user "vip", an RPC
-- that answers, one that fails, one that throws, and one that waits.
local hub = require "luahub"
local protocol = require "luahub.protocol"

hub.config { history = { size = tonumber(os.getenv("HISTORY_SIZE") or 100), ttl = 600 } }

local function check(token)
  if token == "ok" then return { user_id = "u" } end
  local seconds = type(token) == "string" and tonumber(token:match("^ok%-([%d.]+)$"))
  if seconds then return { user_id = "u", expires_in = seconds } end
  if token == "vip" then return { user_id = "vip" } end
  return nil, "unauthorized", "bad token"
end

local proto = protocol.new {
  on_connect = function(_, req) return check(req.token) end,
  on_refresh = function(_, token)
    hub.sleep(0.01)                      -- as if it asked a backend
    return check(token)
  end,
  can_subscribe = function(client, room)
    if room:find("^open:") then return true end
    if room:find("^vip:") and client.user_id == "vip" then return true end
    return nil, "forbidden", "no access to " .. room
  end,
  can_publish = function(_, room) return room:find("^open:") ~= nil end,
  can_presence = function(_, room) return room:find("^open:") ~= nil end,
  rpc = {
    echo = function(_, data) return data end,
    refuse = function() return nil, "nope", "refused on purpose" end,
    throw = function() error("boom") end,
    slow = function(_, data) hub.sleep(data.seconds); return "late" end,
  },
  fallback = function(client, msg) client:send("raw: " .. msg.data) end,
}

hub.handle(proto)

-- Publications from the server side at a steady pace, for the race spec: the RPC
-- "burst" {room, n} starts publishing {i = 1..n}, a few every millisecond, and answers
-- at once.
proto.rpc.burst = function(_, data)
  hub.after(0, function()
    for i = 1, data.n do
      proto:publish(data.room, { i = i })
      if i % 5 == 0 then hub.sleep(0.001) end
    end
  end)
  return true
end
