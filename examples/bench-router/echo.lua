-- The Lua-path overhead benchmark: echo through a router on the JSON "type" field and
-- two middlewares (recover, metrics). Compared with examples/echo/hub.lua (one bare
-- handler) by scripts/bench-echo.sh.
local hub = require "luahub"

hub.use(hub.middleware.recover())
hub.use(hub.middleware.metrics())

local router = hub.router("type")
router:on("echo", function(client, msg) return client:send(msg) end)
hub.handle(router)
