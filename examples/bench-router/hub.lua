-- The benchmark's room script: every message goes through a router and two middlewares,
-- one Lua call per publish and never one per recipient. Protocol (what luahub-loadgen
-- sends by default): {"type":"join","room":R} and {"type":"publish","room":R,"text":...};
-- a publish is forwarded as is (no re-encoding, no copy) to everyone in the room.
local hub = require "luahub"

hub.config {
  send_queue = { messages = 4096, bytes = 16 * 1024 * 1024, policy = "drop_oldest" },
}

hub.use(hub.middleware.recover())
hub.use(hub.middleware.metrics())

local router = hub.router(function(msg)
  local d = msg:json()
  return d and d.type
end)

router:on("join", function(client, msg)
  local room = msg:json().room
  if type(room) ~= "string" then return nil, "bad_room" end
  return client:join(room)
end)

router:on("publish", function(client, msg)
  local room = msg:json().room
  if type(room) ~= "string" then return nil, "bad_room" end
  return hub.to_room(room, msg)
end)

hub.handle(router)
