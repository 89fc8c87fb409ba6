-- Cluster chat: one room, "lobby", served by any number of luahub nodes that share a
-- Redis. A message sent to one node reaches the lobby members on every node; each node
-- tells its own clients who is online cluster-wide. Run two nodes with ./run.sh.
--
-- client -> server   {type = "message", text}
-- server -> client   welcome {node, id}   message {username, text, timestamp, node}
--                    join/leave {username, node}   stats {online, nodes = [{id, clients}]}
local hub = require "luahub"

local encode, floor = hub.json.encode, math.floor
local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local ROOM = "lobby"

hub.config {
  static = HERE .. "/public",
  max_message_size = 8192,
  cluster = {
    adapter = "redis",
    url = os.getenv("REDIS_URL") or "redis://127.0.0.1:6379",
    node_id = os.getenv("NODE_ID"),          -- nil: HOSTNAME-PID
    heartbeat = 1,
  },
}
hub.use(hub.middleware.recover())
hub.use(hub.middleware.rate_limit(5, 10))

local function timestamp()
  local t = hub.now()
  return os.date("!%Y-%m-%dT%H:%M:%S", floor(t)) .. string.format(".%03dZ", floor((t % 1) * 1000))
end

-- A username of 1 to 24 printable characters, from ?username= on the upgrade request.
hub.on("before_connect", function(req)
  local name = req.params.username
  if type(name) ~= "string" or not name:match("^[^%c]+$") or #name > 24 then
    return false, 400, "a username of 1 to 24 characters is required"
  end
  return { meta = { username = name } }
end)

hub.on("after_connect", function(client)
  client:join(ROOM)
  client:send(encode { type = "welcome", node = hub.node_id(), id = client.id })
  hub.to_room(ROOM, encode { type = "join", username = client:get("username"), node = hub.node_id() })
end)

hub.on("before_disconnect", function(client)
  hub.to_room(ROOM, encode { type = "leave", username = client:get("username"), node = hub.node_id() },
              { except = client })
end)

hub.handle(function(client, msg)
  local m = msg:json()
  if type(m) ~= "table" or m.type ~= "message" or type(m.text) ~= "string" then
    return client:send(encode { type = "error", text = "send {type = \"message\", text = ...}" })
  end
  local text = m.text:gsub("^%s+", ""):gsub("%s+$", "")
  if text == "" or #text > 1000 then return end
  -- to_room reaches this node's members at once and the other nodes' through Redis
  hub.to_room(ROOM, encode { type = "message", username = client:get("username"), text = text,
                             timestamp = timestamp(), node = hub.node_id() })
end)

-- Each node pushes the cluster-wide picture to its own clients only (client:send is
-- local), so no node repeats what another already sent.
hub.every(1, function()
  local nodes = {}
  for i, n in ipairs(hub.nodes()) do nodes[i] = { id = n.id, clients = n.clients } end
  local stats = encode { type = "stats", online = hub.global_count(), nodes = nodes }
  for _, client in ipairs(hub.room_clients(ROOM)) do client:send(stats) end
end)
