-- The history bench's hub (scripts/bench-history.sh): every subscriber is in one room and
-- each text message from the publisher is published there with hub.publish, so the
-- fan-out is the same with history on or off; only history.size (set by --config)
-- differs between the runs.
local hub = require "luahub"

hub.config {
  send_queue = { messages = 4096, bytes = 16 * 1024 * 1024, policy = "drop_oldest" },
}

hub.on("after_connect", function(client) client:join("bench") end)

hub.handle(function(client, msg)
  if msg.kind == "text" then hub.publish("bench", msg) end
end)
