-- Echo: every message comes back unchanged to its sender; text stays text, binary stays
-- binary. Served at ws://ADDR/ws. A contract: conformance and benchmark runs use it.
local hub = require "luahub"

hub.config { max_message_size = 16 * 1024 * 1024 }

hub.handle(function(client, msg)
  client:send(msg)
end)
