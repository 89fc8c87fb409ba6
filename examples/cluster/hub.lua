-- Cluster chat: one room, "lobby", served by any number of luahub nodes that share a
-- Redis, over luahub's room protocol (docs/protocol.md) and its browser library
-- (/luahub.js). Messages are publications: kept in the room's history, which with the
-- Redis adapter lives in Redis Streams, so any node serves a recovery. A page whose node
-- died reconnects to another one (NODE_URLS) and is given there every message it missed,
-- exactly once. Run two nodes with ./run.sh.
--
--   connect data {username}          -> result data {node}
--   subscribe "lobby"                -> publications: message {username, text, timestamp, node}
--   rpc message {text}               -> {} once the message is kept and sent
--   pushes, not kept:                   join, leave {username, node} to the room;
--                                       stats {online, nodes = [{id, clients}]} to each page every second
--   GET /cluster.json                -> {node, urls}: every node's WebSocket URL, for the page's failover
local hub = require "luahub"
local protocol = require "luahub.protocol"

local encode, floor = hub.json.encode, math.floor
local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local ROOM = "lobby"

-- NODE_URLS: every node's HTTP address, space-separated ("http://127.0.0.1:8081
-- http://127.0.0.1:8082"). A page served by one node connects to the others when it is
-- gone, with its origin: so each node accepts them all.
local origins, sockets = {}, {}
for url in (os.getenv("NODE_URLS") or ""):gmatch("%S+") do
  local origin = url:gsub("/+$", "")
  origins[#origins + 1] = origin
  sockets[#sockets + 1] = origin:gsub("^http", "ws") .. "/ws"
end

hub.config {
  static = HERE .. "/public",
  max_message_size = 8192,
  origins = #origins > 0 and origins or "same",
  history = { size = 500, ttl = 3600 },       -- what a page that comes back can be given
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

local function clean_text(v)
  if type(v) ~= "string" then return nil end
  v = v:gsub("^%s+", ""):gsub("%s+$", "")
  if v == "" or #v > 1000 then return nil end
  return v
end

local proto
proto = protocol.new {
  -- a username of 1 to 24 printable characters, in connect's data
  on_connect = function(client, req)
    local name = type(req.data) == "table" and req.data.username
    if type(name) ~= "string" or not name:match("^[^%c]+$") or #name > 24 then
      return nil, "unauthorized", "a username of 1 to 24 printable characters is required"
    end
    client:set("username", name)
    return { data = { node = hub.node_id() } }
  end,
  can_subscribe = function(_, room)
    if room ~= ROOM then return nil, "forbidden", "this chat has one room: " .. ROOM end
    return true
  end,
  -- send_room reaches the room's subscribers on every node (relayed through Redis)
  on_subscribe = function(client)
    client:set("joined", true)
    proto:send_room(ROOM, { type = "join", username = client:get("username"), node = hub.node_id() })
  end,
  rpc = {
    -- kept in Redis first (this waits for it), then pushed with its position to every
    -- node's subscribers
    message = function(client, data)
      local text = clean_text(type(data) == "table" and data.text)
      if not text then return nil, "bad_request", "a message is 1 to 1000 characters" end
      local _, pos = proto:publish(ROOM, encode { type = "message", username = client:get("username"),
                                                  text = text, timestamp = timestamp(), node = hub.node_id() })
      if not pos then return nil, "unavailable", "the message could not be kept (Redis unreachable?)" end
      return {}
    end,
  },
}
hub.handle(proto)

hub.route("GET", "/cluster.json", function()
  return 200, { node = hub.node_id(), urls = sockets }
end)

-- Metadata is still readable here: a page that had joined the lobby leaves it.
hub.on("after_disconnect", function(client)
  if not client:get("joined") then return end
  proto:send_room(ROOM, { type = "leave", username = client:get("username"), node = hub.node_id() })
end)

-- A command the rate limit dropped is answered, so the page is not left waiting.
hub.on("after_message", function(client, msg, err)
  if err == "rate_limited" and not client:is_closed() then
    proto:reject(client, msg, "rate_limited", "slow down: at most 5 messages a second")
  end
end)

-- Each node pushes the cluster-wide picture to its own pages only (proto:send is local),
-- so no node repeats what another already sent.
hub.every(1, function()
  local nodes = {}
  for i, n in ipairs(hub.nodes()) do nodes[i] = { id = n.id, clients = n.clients } end
  local stats = { type = "stats", online = hub.global_count(), nodes = nodes }
  for _, client in ipairs(proto:subscribers(ROOM)) do proto:send(client, stats) end
end)
