-- The Lua-path overhead benchmark: echo through a router on the JSON "type" field and,
-- by default, two middlewares (recover, metrics). BENCH_LAYERS picks the middlewares
-- ("recover,metrics", "recover", "" for the router alone), so scripts/bench-echo.sh can
-- price each layer against examples/echo/hub.lua (one bare handler).
local hub = require "luahub"

for layer in (os.getenv("BENCH_LAYERS") or "recover,metrics"):gmatch("[^,%s]+") do
  hub.use(hub.middleware[layer]())
end

local router = hub.router("type")
router:on("echo", function(client, msg) return client:send(msg) end)
hub.handle(router)
