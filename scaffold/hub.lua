-- {{name}}: a luahub hub. Clients join a room and talk in it; every frame is a JSON
-- object with a "type":
--   client -> server   {type = "join", room}   {type = "say", text}
--   server -> client   {type = "welcome", id, room}   {type = "joined", room}
--                      {type = "said", from, text}   {type = "error", error}
-- Every function is in luahub's docs/lua-api.md. `kill -HUP <pid>` (systemctl reload)
-- reloads this file without dropping anyone.
local hub = require "luahub"

hub.config {
  max_message_size = 4096,
  limits = { message_rate = 20, rooms_per_client = 1 },
}

local LOBBY = "lobby"

hub.on("after_connect", function(client)
  client:join(LOBBY)
  client:send_json { type = "welcome", id = client.id, room = LOBBY }
end)

local function fail(client, why) return client:send_json { type = "error", error = why } end

-- The one room a client is in (rooms_per_client = 1).
local function room_of(client) return client:rooms()[1] end

local router = hub.router("type")   -- {"type": "say", ...} goes to router:on("say")

router:on("join", function(client, msg)
  local room = msg:json().room
  if type(room) ~= "string" or not room:match("^[%w_-]+$") or #room > 32 then
    return fail(client, "a room is 1 to 32 letters, digits, '-' or '_'")
  end
  if room == room_of(client) then return fail(client, "already in " .. room) end
  client:leave_all()
  local ok, err = client:join(room)
  if not ok then return fail(client, err) end
  client:send_json { type = "joined", room = room }
end)

router:on("say", function(client, msg)
  local text = msg:json().text
  if type(text) ~= "string" or text == "" then return fail(client, "say needs a text") end
  hub.to_room(room_of(client), hub.json.encode { type = "said", from = client.id, text = text },
              { except = client })
end)

router:not_found(function(client) fail(client, "unknown type; send join or say") end)

hub.use(hub.middleware.recover())
hub.handle(router)
