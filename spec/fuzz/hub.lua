-- The script the fuzz targets run (spec/fuzz/*_fuzz.c). Every client is user "fuzzer"
-- in room "lobby"; a JSON message's "type" picks an operation, so fuzzed frames and
-- request bodies reach the router, msg:json(), rooms, users, metadata, every send
-- function and close with values the peer chose. Handlers pass the API only arguments
-- of the documented types, so an error raised inside the luahub module is a finding
-- (the core logs it at error level, and the harness fails on any error line).
local hub = require "luahub"

local function name(v, default)
  return type(v) == "string" and v ~= "" and v or default
end

local function id(v) return (type(v) == "string" or type(v) == "number") and v or nil end

-- opts.except as documented: an id, or a list of ids
local function ids(v)
  if type(v) ~= "table" then return id(v) end
  local list = {}
  for _, x in ipairs(v) do list[#list + 1] = id(x) or "0" end
  return list
end

hub.on("before_connect", function(req)
  return { user_id = "fuzzer", meta = { path = req.path, params = req.params } }
end)
hub.on("after_connect", function(client) client:join("lobby") end)
hub.on("on_send_dropped", function(client, data, binary) end)

local router = hub.router("type")
router:on("join", function(client, msg) return client:join(name(msg:json().room, "lobby")) end)
router:on("leave", function(client, msg) return client:leave(name(msg:json().room, "lobby")) end)
router:on("room", function(client, msg)
  local d = msg:json()
  return hub.to_room(name(d.room, "lobby"), msg, { except = ids(d.except), binary = d.binary == true })
end)
router:on("user", function(client, msg) return hub.to_user(msg:json().user, msg) end)
router:on("client", function(client, msg) return hub.to_client(id(msg:json().id) or client.id, msg) end)
router:on("broadcast", function(client, msg)
  local d = msg:json()
  return hub.broadcast(d.data == nil and msg or tostring(d.data), { except = ids(d.except) })
end)
router:on("json", function(client, msg) return client:send_json(msg:json()) end)
router:on("set_user", function(client, msg) return client:set_user(msg:json().user) end)
router:on("set", function(client, msg)
  local d = msg:json()
  return client:set(name(d.key, "k"), d.value)
end)
router:on("get", function(client, msg)
  return client:send_json { value = client:get(name(msg:json().key, "k")), rooms = client:rooms() }
end)
router:on("query", function(client, msg)
  return client:send_json { query = client:query(), host = client:header("Host") }
end)
router:on("close", function(client, msg)
  local reason = msg:json().reason
  return client:close(4000, type(reason) == "string" and reason or nil)
end)
router:not_found(function(client, msg) return client:send(msg) end)

hub.use(hub.middleware.metrics())
hub.handle(router)

hub.route("GET", "/echo", function(req) return 200, { query = req.query, params = req.params } end)
hub.route("POST", "/echo", function(req) return 200, req.body, { ["Content-Type"] = "text/plain" } end)

-- POST /respond answers with what its body asks for (lua_fuzz.c's route mode, which checks
-- the answer): [status][count][name][value]... then the body, each of status, name and
-- value a 2-byte big-endian length and that many bytes. A status that is not a decimal
-- number is nil (200); headers go in a table, so a repeated name keeps its last value.
local function field(s, at)
  if at + 1 > #s then return nil, #s + 1 end
  local n = s:byte(at) * 256 + s:byte(at + 1)
  return s:sub(at + 2, at + 1 + n), at + 2 + n
end

hub.route("POST", "/respond", function(req)
  local s = req.body
  local status, at = field(s, 1)
  status = status and status:find("^%-?%d+%.?%d*$") and tonumber(status) or nil
  local count = s:byte(at) or 0
  at = at + 1
  local headers = {}
  for _ = 1, count do
    local name, value
    name, at = field(s, at)
    if not name then break end
    value, at = field(s, at)
    if not value then break end
    headers[name] = value
  end
  return status, s:sub(at), headers
end)
