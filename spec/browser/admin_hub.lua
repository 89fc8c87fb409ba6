-- The hub the admin page's browser spec serves: a client names its room and user in the
-- upgrade's query (?room=R&user=U; the room defaults to "lobby") and every message it
-- sends goes to that room, itself included.
local hub = require "luahub"

hub.on("after_connect", function(client)
  local user = client:query("user")
  if user then client:set_user(user) end
  client:join(client:query("room") or "lobby")
end)

hub.handle(function(client, msg)
  hub.to_room(client:query("room") or "lobby", msg)
end)
