-- The storm bench's hub (scripts/bench-storm.sh): the room protocol with publishing
-- allowed, so the load generator's clients subscribe, publish and recover through
-- luahub.protocol as pages using /luahub.js do. Room history (memory, or Redis Streams
-- with the cluster adapter) and drain_timeout come from --config.
local hub = require "luahub"
local protocol = require "luahub.protocol"

hub.config {
  -- the live fan-out queues 100 publications per subscriber at once
  send_queue = { messages = 4096, bytes = 16 * 1024 * 1024, policy = "drop_oldest" },
}

hub.handle(protocol.new {
  can_publish = function() return true end,
  client_path = false,
})
