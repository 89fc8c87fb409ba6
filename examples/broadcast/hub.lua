-- Broadcast: every text message any client sends goes to all connected clients (the
-- sender included). Served at ws://ADDR/ws. A contract: benchmarks and load checks use it.
local hub = require "luahub"

hub.config {
  -- subscribers of a benchmark receive far more than they send; let queues absorb bursts
  send_queue = { messages = 4096, bytes = 16 * 1024 * 1024, policy = "drop_oldest" },
}

hub.handle(function(client, msg)
  if msg.kind == "text" then hub.broadcast(msg) end
end)
