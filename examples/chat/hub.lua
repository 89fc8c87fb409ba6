-- Chat: rooms, unique usernames per room, join/leave notices, the last 50 messages of a
-- room for a newcomer, typing indicators and presence. The default hub.lua (`make run`)
-- runs this script; the web client is in public/ beside it.
--
-- Every frame is a JSON object {type, username, text, timestamp, room, ...}; timestamps
-- are ISO 8601 UTC with milliseconds, from the event loop's clock, on every frame.
-- A message carries its sender's connection ("sender"), which that connection is told
-- (the history frame's "you", the room protocol's connect result data.sender): pages mark
-- their own messages by it, never by name, since a name is free again once its user left.
--   client -> server   join {username, room}   leave   message {text}
--                      typing {typing = true|false}   presence   rooms
--   server -> client   join, leave, message, typing, presence {members},
--                      history {messages}, rooms {rooms}, error {code, text}
-- Errors go to the client that caused them only.
--
-- The web client speaks luahub's room protocol instead (docs/protocol.md, the /luahub.js
-- library): it subscribes to the room with {username} as data and calls the RPCs
-- message, typing, presence and rooms; it gets the same frames, messages as
-- publications with a position, so after a lost connection or a restart it is given
-- what it missed exactly once, or told that some were missed. Both kinds of client
-- share the rooms, the usernames and the messages.
local hub = require "luahub"
local protocol = require "luahub.protocol"

local concat, sort, format, floor, byte = table.concat, table.sort, string.format, math.floor, string.byte
local encode = hub.json.encode

-- The directory of this file, so `static` works whatever the working directory.
local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."

local LIMITS = {
  username = 24,          -- characters
  room = 32,              -- characters: letters, digits, '-' and '_'
  text = 1000,            -- characters of one chat message
  history = 50,           -- messages a newcomer is sent
  kept = 500,             -- messages kept per room, for pages that come back
  clients_per_room = 200,
}
local DEFAULT_ROOM = "general"

hub.config {
  static = HERE .. "/public",
  max_message_size = 16 * 1024,   -- a longer frame closes the connection (1009)
  history = { size = LIMITS.kept, ttl = 24 * 3600 },
  limits = {
    connections = 2000,
    rooms_per_client = 1,          -- a client is in one room at a time
    clients_per_room = LIMITS.clients_per_room,
  },
}

hub.use(hub.middleware.recover())
hub.use(hub.middleware.rate_limit(5, 10))   -- 5 messages a second, bursts of 10

----------------------------------------------------------------------------- helpers
local boot, seq, connections = os.time(), 0, 0
local loaded_ms = floor(hub.now() * 1000)   -- this load of the script, in sender ids

-- ISO 8601 UTC with milliseconds: "2025-01-18T10:30:00.123Z".
local function timestamp(t)
  t = t or hub.now()
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

-- The connection's sender id, made on first use: never reused by a later connection,
-- unlike a username (the script's load time in milliseconds keeps it so across reloads;
-- it is kept in the client's metadata, which a reload keeps).
local function sender(client)
  local id = client:get("sender")
  if not id then
    connections = connections + 1
    id = format("%x-%x", loaded_ms, connections)
    client:set("sender", id)
  end
  return id
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
local proto   -- the room protocol, made below with the handlers

-- Every notice goes to both kinds of client: the room's members and its subscribers.
local function tell(room, frame, except)
  local opts = except and { except = except }
  hub.to_room(room, frame, opts)
  proto:send_room(room, frame, opts)
end

-- The last LIMITS.history messages of the room, oldest first (encoded frames).
local function recent(room)
  local pubs = hub.history(room) or {}
  local list = {}
  for i = math.max(1, #pubs - LIMITS.history + 1), #pubs do list[#list + 1] = pubs[i].data end
  return list
end

local function in_room(room)
  local list = hub.room_clients(room)
  for _, c in ipairs(proto:subscribers(room)) do list[#list + 1] = c end
  return list
end

local function members(room)
  local names = {}
  for _, c in ipairs(in_room(room)) do names[#names + 1] = c:get("username") end
  sort(names)
  return names
end

local function username_taken(room, name, asking)
  local key = name:lower()
  for _, c in ipairs(in_room(room)) do
    local other = c:get("username")
    if c.id ~= asking.id and other and other:lower() == key then return true end
  end
  return false
end

local function presence_frame(room)
  return encode { type = "presence", room = room, members = members(room), timestamp = timestamp() }
end

-- The room list every client's room switcher shows, with each room's position in its
-- message stream (pages count a room's unread messages by it); several changes within a
-- quarter second are sent as one update.
local function rooms_frame()
  local counts, order = {}, {}
  for _, core in ipairs(hub.rooms()) do
    local name = core:match("^~(.*)$") or core       -- "~general": subscribers of general
    if not counts[name] then order[#order + 1] = name; counts[name] = 0 end
    counts[name] = counts[name] + hub.room_count(core)
  end
  sort(order)
  local items = {}
  for _, name in ipairs(order) do
    local _, now = hub.history(name, { limit = 1 })   -- only for the position
    items[#items + 1] = encode { name = name, members = counts[name], epoch = now and now.epoch,
                                 offset = now and now.offset }
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

-- Tells the room (and the client) that the client left it.
local function left(client, room, reason)
  local name = client:get("username")
  client:del("room")
  local notice = encode { type = "leave", username = name, room = room, timestamp = timestamp(),
                          text = name .. (reason or " left") }
  if not client:is_closed() then
    if proto:is_connected(client) then proto:send(client, notice) else client:send(notice) end
  end
  tell(room, notice)
  tell(room, presence_frame(room))
  rooms_changed()
end

-- Takes a client out of its room and tells the room (and the client).
local function leave_room(client, room, reason)
  if proto:is_connected(client) then
    proto:unsubscribe(client, room, "left")       -- on_unsubscribe tells the room
  else
    client:leave(room)
    left(client, room, reason)
  end
end

-- The checks of a join; returns the clean username and room, or nil, code, text.
local function may_join(client, username, wanted_room)
  local name, code, text = check_username(username or client:get("username"))
  if not name then return nil, code, text end
  local room
  room, code, text = check_room(wanted_room)
  if not room then return nil, code, text end
  if username_taken(room, name, client) then
    return nil, "username_taken", '"' .. name .. '" is already taken in #' .. room
  end
  if client:get("room") ~= room and #in_room(room) >= LIMITS.clients_per_room then
    return nil, "room_full", "#" .. room .. " is full"
  end
  return name, room
end

local function joined(client, room, name, time)
  client:set("username", name)
  client:set("room", room)
  tell(room, encode { type = "join", username = name, room = room,
                      timestamp = timestamp(time), text = name .. " joined" })
  tell(room, presence_frame(room))
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
  local name, room, text = may_join(client, data.username, data.room)
  if not name then return fail(client, room, text) end
  local current, current_name = client:get("room"), client:get("username")
  if current == room and current_name == name then
    client:send(presence_frame(room))
    return true
  end
  if current then leave_room(client, current, current == room and " is now " .. name or " left") end
  local ok, err = client:join(room)
  if not ok then return fail(client, err, "cannot join #" .. room .. " (" .. err .. ")") end
  client:send(with_array({ type = "history", room = room, you = sender(client) }, "messages", recent(room)))
  joined(client, room, name, msg.time)
  return true
end)

router:on("leave", function(client)
  local room = client:get("room")
  if not room then return fail(client, "not_in_room", "you are not in a room") end
  leave_room(client, room)
  return true
end)

-- A message to the client's room: kept in its history, so a page that comes back gets
-- it. Returns true, or nil, code, text.
local function say(client, text, time)
  local room = client:get("room")
  if not room then return nil, "not_in_room", "join a room first" end
  local clean, code, detail = check_text(text)
  if not clean then return nil, code, detail end
  seq = seq + 1
  proto:publish(room, encode { type = "message", id = format("%x-%x", boot, seq),
                               username = client:get("username"), sender = sender(client),
                               text = clean, room = room, timestamp = timestamp(time) })
  rooms_changed()   -- the room's position moved
  return true
end

local function typing(client, on, time)
  local room = client:get("room")
  if not room then return nil, "not_in_room", "join a room first" end
  tell(room, encode { type = "typing", username = client:get("username"), room = room,
                      typing = on ~= false, timestamp = timestamp(time) }, client)
  return true
end

-- The router's handlers answer a failure with an error frame.
local function answered(client, ok, code, text)
  if not ok then return fail(client, code, text) end
  return true
end

router:on("message", function(client, msg) return answered(client, say(client, msg:json().text, msg.time)) end)
router:on("typing", function(client, msg) return answered(client, typing(client, msg:json().typing, msg.time)) end)

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

----------------------------------------------------------------------------- the room protocol
-- A page subscribes to a room with {username} as data, and calls the RPCs message
-- {text} and typing {typing}; their errors come back as the RPC's.
proto = protocol.new {
  on_connect = function(client) return { data = { sender = sender(client) } } end,
  can_subscribe = function(client, room, cmd)
    local data = type(cmd.data) == "table" and cmd.data or {}
    local name, clean, text = may_join(client, data.username, room)
    if not name then return nil, clean, text end
    if clean ~= room then return nil, "bad_room", "room names are lower case" end
    local current = client:get("room")
    if current then leave_room(client, current, current == room and " is now " .. name or " left") end
    client:set("username", name)
    return true
  end,
  on_subscribe = function(client, room) joined(client, room, client:get("username"), hub.now()) end,
  on_unsubscribe = function(client, room) left(client, room) end,
  rpc = {
    message = function(client, data) return say(client, type(data) == "table" and data.text, hub.now()) end,
    typing = function(client, data) return typing(client, type(data) == "table" and data.typing, hub.now()) end,
  },
  fallback = router,
}

hub.handle(proto)

----------------------------------------------------------------------------- hooks
hub.on("after_connect", function(client)
  client:send(rooms_frame())
end)

-- Metadata is still readable here; the core has already taken the client out of its
-- room, so the presence list is the one of those who stay.
hub.on("after_disconnect", function(client)
  local room, name = client:get("room"), client:get("username")
  if not room then return end
  tell(room, encode { type = "leave", username = name, room = room, timestamp = timestamp(),
                      text = name .. " left" })
  tell(room, presence_frame(room))
  rooms_changed()
end)

-- A dropped room-protocol command is always answered, one reply per request: the page
-- waits for it to put the message back in its box. A seed client gets at most one notice
-- a second, so a flood of plain frames is not answered by one.
local last_notice = setmetatable({}, { __mode = "k" })
hub.on("after_message", function(client, msg, err)
  if err ~= "rate_limited" or client:is_closed() then return end
  local text = "slow down: at most 5 messages a second"
  if proto:reject(client, msg, "rate_limited", text) then return end
  local now = floor(hub.now())
  if last_notice[client] == now then return end
  last_notice[client] = now
  fail(client, "rate_limited", text)
end)
