-- The soak's hub (scripts/soak.lua), first of two scripts with the same behaviour that
-- the soak swaps with SIGHUP every few seconds; hub_b.lua does the same through a router.
--   "join ROOM"      joins ROOM, answers "joined ROOM" (or "error CODE ROOM")
--   "ROOM anything"  forwarded as it came to ROOM's other members; the sender must be
--                    one ("error not_in_room ROOM" otherwise)
-- Settings (queue policy, timeouts, api_key) come from the soak's --config, so both
-- scripts and every reload run under the same ones.
local hub = require "luahub"

hub.handle(function(client, msg)
  local data = msg.data
  local room = data:match("^join (%S+)$")
  if room then
    local ok, err = client:join(room)
    client:send(ok and ("joined " .. room) or ("error " .. err .. " " .. room))
    return
  end
  room = data:match("^%S+")
  if room and client:in_room(room) then
    hub.to_room(room, msg, { except = client })
  else
    client:send("error not_in_room " .. tostring(room))
  end
end)
