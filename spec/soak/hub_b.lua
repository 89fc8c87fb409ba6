-- The soak's hub (scripts/soak.lua), second of two scripts with the same behaviour as
-- hub_a.lua (read its header for the protocol), written with a router and middleware so
-- a reload swaps a different handler chain in.
local hub = require "luahub"

local router = hub.router(function(msg)
  return msg.data:match("^join %S+$") and "join" or "forward"
end)

router:on("join", function(client, msg)
  local room = msg.data:sub(6)
  local ok, err = client:join(room)
  client:send(ok and ("joined " .. room) or ("error " .. err .. " " .. room))
end)

router:on("forward", function(client, msg)
  local room = msg.data:match("^%S+")
  if room and client:in_room(room) then
    hub.to_room(room, msg, { except = client })
  else
    client:send("error not_in_room " .. tostring(room))
  end
end)

hub.use(hub.middleware.recover())
hub.handle(router)
