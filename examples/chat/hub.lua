-- Chat: rooms, unique usernames per room, join/leave notices, the last 50 messages of a
-- room for a newcomer, typing indicators and presence. The default hub.lua (`make run`)
-- runs this script; the web client is in public/ beside it.
--
-- Every frame is a JSON object {type, username, text, timestamp, room, ...}.
--   client -> server   join {username, room}   leave   message {text}
--                      typing {typing = true|false}   presence   rooms
--   server -> client   join, leave, message, typing, presence {members},
--                      history {messages}, rooms {rooms}, error {code, text}
-- Errors go to the client that caused them only.
local hub = require "luahub"

local concat, sort, format, floor, byte = table.concat, table.sort, string.format, math.floor, string.byte
local encode = hub.json.encode

-- The directory of this file, so `static` works whatever the working directory.
local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."

local LIMITS = {
  username = 24,          -- characters
  room = 32,              -- characters: letters, digits, '-' and '_'
  text = 1000,            -- characters of one chat message
  history = 50,           -- messages kept per room for newcomers
  history_rooms = 200,    -- rooms whose history is kept once they are empty
  clients_per_room = 200,
}
local DEFAULT_ROOM = "general"

hub.config {
  static = HERE .. "/public",
  max_message_size = 16 * 1024,   -- a longer frame closes the connection (1009)
  limits = {
    connections = 2000,
    rooms_per_client = 1,          -- a client is in one room at a time
    clients_per_room = LIMITS.clients_per_room,
  },
}

hub.use(hub.middleware.recover())
hub.use(hub.middleware.rate_limit(5, 10))   -- 5 messages a second, bursts of 10

----------------------------------------------------------------------------- helpers
local boot, seq = os.time(), 0

-- ISO 8601 UTC with milliseconds: "2025-01-18T10:30:00.123Z".
local function timestamp(t)
  t = t or os.time()
  local seconds = floor(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", seconds) .. format(".%03dZ", floor((t - seconds) * 1000))
end

local function characters(s)
  local _, continuation_bytes = s:gsub("[\128-\191]", "")
  return #s - continuation_bytes
end

-- The bytes %s matches: tab, LF, VT, FF, CR, space.
local BLANK = { [9] = true, [10] = true, [11] = true, [12] = true, [13] = true, [32] = true }

-- Linear in #s by construction: a pattern such as "%s+$" retries a run of blanks from each
-- of its bytes, so one 16 KiB frame of blanks between two letters held the loop a second.
local function trim(s)
  local first, last = 1, #s
  while BLANK[byte(s, first)] do first = first + 1 end
  while last > first and BLANK[byte(s, last)] do last = last - 1 end
  return s:sub(first, last)
end

-- hub.json encodes an empty Lua table as {}; lists that may be empty are spliced in as
-- JSON arrays of already encoded items.
local function with_array(fields, key, items)
  return encode(fields):sub(1, -2) .. ',"' .. key .. '":[' .. concat(items, ",") .. "]}"
end

local function fail(client, code, text)
  client:send_json { type = "error", code = code, text = text, timestamp = timestamp() }
  return nil, code
end

----------------------------------------------------------------------------- validation
-- Each returns the cleaned value, or nil, code, text. Lengths are checked on the value as
-- sent, blanks included, before any other work on it: a frame may carry 16 KiB.
local function check_username(v)
  if type(v) ~= "string" then return nil, "bad_username", "username must be a string" end
  if characters(v) > LIMITS.username then
    return nil, "username_too_long", "username is longer than " .. LIMITS.username .. " characters"
  end
  v = trim(v)
  if v == "" then return nil, "empty_username", "username is empty" end
  if v:find("[%z\1-\31\127]") then return nil, "bad_username", "username has control characters" end
  return v
end

local function check_room(v)
  if v == nil then return DEFAULT_ROOM end
  if type(v) ~= "string" then return nil, "bad_room", "room must be a string" end
  local bad = "room names are up to " .. LIMITS.room .. " letters, digits, '-' or '_'"
  if #v > LIMITS.room then return nil, "bad_room", bad end
  v = trim(v):lower()
  if v == "" then return DEFAULT_ROOM end
  if not v:find("^[%w_%-]+$") then return nil, "bad_room", bad end
  return v
end

local function check_text(v)
  if type(v) ~= "string" then return nil, "bad_text", "text must be a string" end
  if characters(v) > LIMITS.text then
    return nil, "text_too_long", "message is longer than " .. LIMITS.text .. " characters"
  end
  if trim(v) == "" then return nil, "empty_text", "message is empty" end
  return v
end

----------------------------------------------------------------------------- rooms and history
-- room -> list of encoded message frames, oldest first (at most LIMITS.history).
local history, history_rooms = {}, 0

local function remember(room, frame)
  local list = history[room]
  if not list then
    if history_rooms >= LIMITS.history_rooms then
      for name in pairs(history) do
        if not hub.room_exists(name) then history[name] = nil; history_rooms = history_rooms - 1 end
      end
    end
    list = {}
    history[room] = list
    history_rooms = history_rooms + 1
  end
  list[#list + 1] = frame
  if #list > LIMITS.history then table.remove(list, 1) end
end

local function members(room)
  local names = {}
  for _, c in ipairs(hub.room_clients(room)) do names[#names + 1] = c:get("username") end
  sort(names)
  return names
end

local function username_taken(room, name, asking)
  local key = name:lower()
  for _, c in ipairs(hub.room_clients(room)) do
    local other = c:get("username")
    if c.id ~= asking.id and other and other:lower() == key then return true end
  end
  return false
end

local function presence_frame(room)
  return encode { type = "presence", room = room, members = members(room), timestamp = timestamp() }
end

-- The room list every client's room switcher shows; several changes within a quarter
-- second are sent as one update.
local function rooms_frame()
  local items = {}
  for _, name in ipairs(hub.rooms()) do
    items[#items + 1] = encode { name = name, members = hub.room_count(name) }
  end
  return with_array({ type = "rooms" }, "rooms", items)
end

local rooms_update
local function rooms_changed()
  if rooms_update then return end
  rooms_update = hub.after(0.25, function()
    rooms_update = nil
    hub.broadcast(rooms_frame())
  end)
end

-- A reload cancels the old script's timers, a pending update among them, and the new
-- script cannot tell whether one was pending: so every load sends the list (at first
-- start, to no one).
rooms_changed()

-- Takes a client out of its room and tells the room (and the client).
local function leave_room(client, room, reason)
  local name = client:get("username")
  client:leave(room)
  client:del("room")
  local notice = encode { type = "leave", username = name, room = room, timestamp = timestamp(),
                          text = name .. (reason or " left") }
  if not client:is_closed() then client:send(notice) end
  hub.to_room(room, notice)
  hub.to_room(room, presence_frame(room))
  rooms_changed()
end

----------------------------------------------------------------------------- handlers
local router = hub.router(function(msg)
  local data = msg:json()
  return type(data) == "table" and data.type or nil
end)

-- join {username, room}: enters a room (leaving the current one), or renames.
router:on("join", function(client, msg)
  local data = msg:json()
  local name, code, text = check_username(data.username or client:get("username"))
  if not name then return fail(client, code, text) end
  local room
  room, code, text = check_room(data.room)
  if not room then return fail(client, code, text) end

  local current, current_name = client:get("room"), client:get("username")
  if current == room and current_name == name then
    client:send(presence_frame(room))
    return true
  end
  if username_taken(room, name, client) then
    return fail(client, "username_taken", '"' .. name .. '" is already taken in #' .. room)
  end
  if current ~= room and hub.room_count(room) >= LIMITS.clients_per_room then
    return fail(client, "room_full", "#" .. room .. " is full")
  end

  if current then leave_room(client, current, current == room and " is now " .. name or " left") end
  local joined, err = client:join(room)
  if not joined then return fail(client, err, "cannot join #" .. room .. " (" .. err .. ")") end
  client:set("username", name)
  client:set("room", room)

  client:send(with_array({ type = "history", room = room }, "messages", history[room] or {}))
  hub.to_room(room, encode { type = "join", username = name, room = room,
                             timestamp = timestamp(msg.time), text = name .. " joined" })
  hub.to_room(room, presence_frame(room))
  rooms_changed()
  return true
end)

router:on("leave", function(client)
  local room = client:get("room")
  if not room then return fail(client, "not_in_room", "you are not in a room") end
  leave_room(client, room)
  return true
end)

router:on("message", function(client, msg)
  local room = client:get("room")
  if not room then return fail(client, "not_in_room", "join a room first") end
  local text, code, detail = check_text(msg:json().text)
  if not text then return fail(client, code, detail) end
  seq = seq + 1
  local frame = encode { type = "message", id = format("%x-%x", boot, seq),
                         username = client:get("username"), text = text, room = room,
                         timestamp = timestamp(msg.time) }
  remember(room, frame)
  hub.to_room(room, frame)
  return true
end)

router:on("typing", function(client, msg)
  local room = client:get("room")
  if not room then return fail(client, "not_in_room", "join a room first") end
  hub.to_room(room, encode { type = "typing", username = client:get("username"), room = room,
                             typing = msg:json().typing ~= false, timestamp = timestamp(msg.time) },
              { except = client })
  return true
end)

router:on("presence", function(client)
  local room = client:get("room")
  if not room then return fail(client, "not_in_room", "join a room first") end
  client:send(presence_frame(room))
  return true
end)

router:on("rooms", function(client)
  client:send(rooms_frame())
  return true
end)

router:not_found(function(client, msg)
  if msg.kind ~= "text" or not msg:json() then return fail(client, "bad_json", "send JSON text frames") end
  return fail(client, "unknown_type", "unknown message type")
end)

hub.handle(router)

----------------------------------------------------------------------------- hooks
hub.on("after_connect", function(client)
  client:send(rooms_frame())
end)

-- Metadata is still readable here; the core has already taken the client out of its
-- room, so the presence list is the one of those who stay.
hub.on("after_disconnect", function(client)
  local room, name = client:get("room"), client:get("username")
  if not room then return end
  hub.to_room(room, encode { type = "leave", username = name, room = room, timestamp = timestamp(),
                             text = name .. " left" })
  if hub.room_exists(room) then hub.to_room(room, presence_frame(room)) end
  rooms_changed()
end)

-- At most one rate-limit notice a second per client, so a flood is not answered by one.
local last_notice = setmetatable({}, { __mode = "k" })
hub.on("after_message", function(client, _, err)
  if err ~= "rate_limited" or client:is_closed() then return end
  local now = os.time()
  if last_notice[client] == now then return end
  last_notice[client] = now
  fail(client, "rate_limited", "slow down: at most 5 messages a second")
end)
