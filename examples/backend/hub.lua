-- Backend: a hub in front of an application's own services.
--   * before_connect asks the session service (HTTP) whose token a connection carries and
--     which rooms that user may join. A token it does not know is refused with 401; when
--     it cannot answer (down, slow, a garbled reply) the connection is refused with 503:
--     a client is never let in unchecked.
--   * Messages are kept in Redis, the last HISTORY of each room, and a client that joins
--     a room gets them first. They outlive reloads and restarts of the hub.
--   * POST /webhook lets a backend post an event into a room (X-Webhook-Secret header).
--
-- Settings, from the environment:
--   AUTH_URL        the session service (default http://127.0.0.1:8081): the hub calls
--                   GET AUTH_URL/session with "Authorization: Bearer TOKEN"
--   AUTH_TIMEOUT    seconds to wait for it (default 2)
--   REDIS_URL       default redis://127.0.0.1:6379
--   HISTORY         messages kept per room (default 50)
--   WEBHOOK_SECRET  the secret POST /webhook must carry; unset: no /webhook
--
-- The token: `?token=T` on the upgrade URL (browsers cannot set headers on a WebSocket)
-- or "Authorization: Bearer T".
--
-- Every frame is a JSON object.
--   client -> server   join {room}   leave {room}   say {room, text}
--   server -> client   welcome {user, rooms}   joined {room, history}   left {room}
--                      message {id, room, user, text, time}   event {id, room, event, time}
--                      error {code, text}
-- `id` numbers a room's entries (1, 2, ...). The history is read just after joining, so
-- an entry stored meanwhile may come live (even before `joined`) and in the history:
-- drop ids already seen.
local hub = require "luahub"

local AUTH_URL = os.getenv("AUTH_URL") or "http://127.0.0.1:8081"
local AUTH_TIMEOUT = tonumber(os.getenv("AUTH_TIMEOUT")) or 2
local HISTORY = tonumber(os.getenv("HISTORY")) or 50
local WEBHOOK_SECRET = os.getenv("WEBHOOK_SECRET")
if WEBHOOK_SECRET == "" then WEBHOOK_SECRET = nil end

local MAX_TEXT = 1000     -- bytes of one message

-- A connection to REDIS_URL, made on the loop; C keeps it across reloads.
local redis = hub.redis(os.getenv("REDIS_URL") or "redis://127.0.0.1:6379")

hub.config { max_message_size = 16 * 1024 }
hub.use(hub.middleware.recover())
hub.use(hub.middleware.rate_limit(10, 20))   -- each message costs a Redis round trip

----------------------------------------------------------------------------- helpers
local encode, decode = hub.json.encode, hub.json.decode

-- ISO 8601 UTC with milliseconds: "2026-11-30T05:27:34.829Z".
local function timestamp()
  local now = hub.now()
  local seconds = math.floor(now)
  local ms = math.floor((now - seconds) * 1000)
  return os.date("!%Y-%m-%dT%H:%M:%S", seconds) .. (".%03dZ"):format(ms)
end

local function valid_room(room)
  return type(room) == "string" and #room <= 32 and room:find("^[%w_-]+$") ~= nil
end

local function fail(client, code, text)
  client:send_json { type = "error", code = code, text = text }
  return nil, code
end

----------------------------------------------------------------------------- the gate
-- RFC 6750's token characters; anything else cannot be a token and is not sent on.
local function token_of(req)
  local token = req.params.token
  local header = req.headers.authorization
  if header then token = header:match("^[Bb]earer%s+(%S+)%s*$") end
  if token and token:find("^[%w%-._~+/]+=*$") then return token end
end

local function valid_session(s)
  if type(s) ~= "table" or type(s.user) ~= "string" or s.user == "" then return false end
  if type(s.rooms) ~= "table" then return false end
  for _, room in ipairs(s.rooms) do
    if not valid_room(room) then return false end
  end
  return true
end

hub.on("before_connect", function(req)
  local token = token_of(req)
  if not token then return false, 401, "a session token is required" end
  -- the handshake waits here; the loop serves everyone else meanwhile. A failed call is
  -- logged by luahub, with its reason and this line.
  local res = hub.http.request {
    url = AUTH_URL .. "/session",
    headers = { Authorization = "Bearer " .. token },
    timeout = AUTH_TIMEOUT,
  }
  if not res then return false, 503, "session service unavailable" end
  if res.status == 401 or res.status == 403 then return false, res.status, "invalid session" end
  local session = res.status == 200 and decode(res.body)
  if not valid_session(session) then
    hub.log.warn("session service answered badly", { status = res.status })
    return false, 503, "session service unavailable"
  end
  return { user_id = session.user, meta = { rooms = session.rooms } }
end)

hub.on("after_connect", function(client)
  client:send_json { type = "welcome", user = client.user_id, rooms = client:get("rooms") }
end)

local function may_join(client, room)
  for _, allowed in ipairs(client:get("rooms")) do
    if allowed == room then return true end
  end
  return false
end

----------------------------------------------------------------------------- storage
local function log_key(room) return "room:" .. room .. ":log" end
local function seq_key(room) return "room:" .. room .. ":seq" end

-- Numbers an entry, appends it to the room's log and trims the log to the last ARGV[2],
-- in one round trip that no other client's entry can interleave with. The id goes in
-- front of the entry's JSON object, so the stored text is exactly what clients get.
local APPEND = [[
local id = redis.call('INCR', KEYS[2])
local entry = '{"id":' .. id .. ',' .. string.sub(ARGV[1], 2)
redis.call('RPUSH', KEYS[1], entry)
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
return { id, entry }
]]

-- A failed Redis call returns nil, code, detail, and luahub logs it with the line that
-- made it; the callers below only tell the client.

-- Stores a record (a table of fields) in the room's log: entry (JSON text), id; or nil, code.
local function store(room, record)
  local reply, err = redis:call("EVAL", APPEND, 2, log_key(room), seq_key(room),
                                encode(record), HISTORY)
  if not reply then return nil, err end
  return reply[2], reply[1]
end

-- The room's last HISTORY entries, oldest first, as a JSON array (they are JSON already);
-- or nil, code.
local function history(room)
  local entries, err = redis:call("LRANGE", log_key(room), -HISTORY, -1)
  if not entries then return nil, err end
  return "[" .. table.concat(entries, ",") .. "]"
end

----------------------------------------------------------------------------- messages
local router = hub.router(function(msg)
  local data = msg:json()
  return type(data) == "table" and data.type or nil
end)

router:on("join", function(client, msg)
  local room = msg:json().room
  if not valid_room(room) then
    return fail(client, "bad_room", "rooms are 1-32 letters, digits, - or _")
  end
  if not may_join(client, room) then
    return fail(client, "forbidden", "you may not join " .. room)
  end
  local ok, err = client:join(room)
  if not ok then return fail(client, err, "cannot join " .. room) end
  -- joined first, read after: an entry stored in between comes live, in the history or
  -- both (ids tell), never neither
  local entries = history(room)
  if not entries then
    client:leave(room)
    return fail(client, "storage_unavailable", "message storage is unavailable; try again")
  end
  client:send_raw_json('{"type":"joined","room":' .. encode(room)
                       .. ',"history":' .. entries .. "}")
  return true
end)

router:on("leave", function(client, msg)
  local room = msg:json().room
  if not valid_room(room) or not client:in_room(room) then
    return fail(client, "not_in_room", "you are not in that room")
  end
  client:leave(room)
  client:send_json { type = "left", room = room }
  return true
end)

router:on("say", function(client, msg)
  local data = msg:json()
  local room, text = data.room, data.text
  if not valid_room(room) or not client:in_room(room) then
    return fail(client, "not_in_room", "join the room first")
  end
  if type(text) ~= "string" or text == "" or #text > MAX_TEXT then
    return fail(client, "bad_text", "text is 1-" .. MAX_TEXT .. " bytes")
  end
  -- stored first: a message that could not be kept is not sent either, so the history
  -- and what members saw agree, and the sender knows to try again
  local entry = store(room, { type = "message", room = room, user = client.user_id,
                              text = text, time = timestamp() })
  if not entry then
    return fail(client, "storage_unavailable", "not sent: storage is unavailable; try again")
  end
  hub.to_room(room, entry)
  return true
end)

router:not_found(function(client) return fail(client, "unknown_type", "unknown message type") end)

hub.handle(router)

-- rate_limit drops a message before the handler runs: say so, or the sender would wait
-- for an answer that never comes
hub.on("after_message", function(client, _, err)
  if err == "rate_limited" then fail(client, "rate_limited", "at most 10 messages a second") end
end)

----------------------------------------------------------------------------- webhook
-- Whether s is UTF-8 (RFC 3629). A WebSocket text frame must be, so a stored entry that
-- is not could never be sent: it would spoil its room's history for every newcomer.
-- (Client messages need no check: the server takes only valid text frames.)
local function is_utf8(s)
  local i = s:find("[\128-\255]")
  while i do
    local a, more, lo, hi = s:byte(i), 0, 0x80, 0xBF   -- lo..hi: the next byte's range
    if a >= 0xC2 and a <= 0xDF then
      more = 1
    elseif a >= 0xE0 and a <= 0xEF then   -- no overlongs (E0), no surrogates (ED)
      more, lo, hi = 2, a == 0xE0 and 0xA0 or 0x80, a == 0xED and 0x9F or 0xBF
    elseif a >= 0xF0 and a <= 0xF4 then   -- no overlongs (F0), nothing past U+10FFFF (F4)
      more, lo, hi = 3, a == 0xF0 and 0x90 or 0x80, a == 0xF4 and 0x8F or 0xBF
    else
      return false
    end
    for k = 1, more do
      local b = s:byte(i + k)
      if not b or b < lo or b > hi then return false end
      lo, hi = 0x80, 0xBF
    end
    i = s:find("[\128-\255]", i + 1 + more)
  end
  return true
end

-- POST /webhook  X-Webhook-Secret: S  {"room": R, "event": <any JSON>}
-- Stores the event in R's history and sends it to R's members: 200 {id, delivered}.
if WEBHOOK_SECRET then
  hub.route("POST", "/webhook", function(req)
    if req.headers["x-webhook-secret"] ~= WEBHOOK_SECRET then
      return 403, { error = "bad secret" }
    end
    local body = is_utf8(req.body) and decode(req.body)
    if type(body) ~= "table" or not valid_room(body.room) or body.event == nil then
      return 400, { error = 'expected {"room": ROOM, "event": ...}' }
    end
    local entry, id = store(body.room, { type = "event", room = body.room, event = body.event,
                                         time = timestamp() })
    if not entry then return 503, { error = "storage unavailable" } end
    return 200, { id = id, delivered = hub.to_room(body.room, entry) }
  end)
else
  hub.log.warn("WEBHOOK_SECRET is not set: POST /webhook is off")
end
