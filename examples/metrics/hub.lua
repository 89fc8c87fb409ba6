-- Metrics: the metrics middleware counts every message, its errors by code and the time
-- the handler takes; Prometheus scrapes them at GET /metrics (README.md). The handler is
-- a small JSON room relay so there is something to count:
--   {"type": "join", "room": R}   {"type": "say", "room": R, "text": T}
-- Anything else is answered with an error and counted under its code. GET /stats shows
-- the script-side counters as JSON.
local hub = require "luahub"

hub.use(hub.middleware.metrics())    -- outermost: it also counts what the layers below refuse
hub.use(hub.middleware.recover())
hub.use(hub.middleware.rate_limit(50, 100))

local function fail(client, code)
  client:send_json { type = "error", code = code }
  return nil, code
end

local router = hub.router(function(msg)
  local data = msg:json()
  return type(data) == "table" and data.type or nil
end)

router:on("join", function(client, msg)
  local room = msg:json().room
  if type(room) ~= "string" or room == "" then return fail(client, "bad_room") end
  local ok, err = client:join(room)
  if not ok and err ~= "already_in_room" then return fail(client, err) end
  client:send_json { type = "joined", room = room }
  return true
end)

router:on("say", function(client, msg)
  local data = msg:json()
  if not client:in_room(data.room) then return fail(client, "not_in_room") end
  hub.to_room(data.room, hub.json.encode { type = "said", room = data.room, text = data.text })
  return true
end)

router:not_found(function(client, msg)
  return fail(client, msg:json() and "unknown_type" or "bad_json")
end)

hub.handle(router)

hub.route("GET", "/stats", function()
  local stats = hub._stats
  return 200, {
    messages = stats.messages,
    errors = next(stats.errors) and stats.errors or nil,
    handler_seconds = stats.handler_seconds,
    clients = hub.count(),
    rooms = hub.room_count(),
    uptime = hub.uptime(),
  }
end)
