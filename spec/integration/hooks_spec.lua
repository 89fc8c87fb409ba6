-- The twelve hooks of hub.on, observed through real sockets: what the client sees
-- (HTTP status, replies, closes) and what the hooks recorded (served at GET /events).
local t = require "luahub.testing"
local hubs = require "support.hubs"
local observe = require "support.observe"

local SCRIPT = [[
local hub = require "luahub"

local events = {}
local function record(...)
  local words = { ... }
  for i = 1, select("#", ...) do words[i] = tostring(words[i]) end
  events[#events + 1] = table.concat(words, " ")
end
hub.route("GET", "/events", function() return 200, events end)

-- Authorization: Bearer NAME. No token: 401; mallory: 403; ?explode: the hook throws.
hub.on("before_connect", function(req)
  if req.params.explode then error("before_connect exploded") end
  local user = (req.headers.authorization or ""):match("^Bearer (%w+)$")
  if not user then
    record("refused", req.id, 401)
    return false, 401, "a bearer token is required"
  end
  if user == "mallory" then
    record("refused", req.id, 403)
    return false, 403, "banned"
  end
  return { user_id = user, meta = { role = user == "root" and "admin" or "member", level = 3, verified = true } }
end)

hub.on("after_connect", function(client) record("after_connect", client.id, client.user_id) end)
hub.on("before_disconnect", function(client)
  record("before_disconnect", client.id, client.user_id, table.concat(client:rooms(), ","))
end)
hub.on("after_disconnect", function(client, code)
  record("after_disconnect", client.id, code, #client:rooms(), hub.client(client.id) == nil, client.user_id)
  hub.to_room("watchers", "left " .. client.id .. " " .. tostring(code))
end)

-- Two before_message hooks run in order, the second on what the first returned.
hub.on("before_message", function(client, msg)
  if msg.data == "shout" then return "SHOUT" end
end)
hub.on("before_message", function(client, msg)
  if msg.data == "SHOUT" then return msg.data .. "!" end
  if msg.data == "secret" then return nil, "censored" end
  if msg.data == "void" then return nil end
  if msg.data == "trip" then error("before_message tripped") end
  return msg
end)
hub.on("after_message", function(client, msg, err) record("after_message", client.id, msg.data, err) end)
hub.on("on_error", function(client, err)
  record("on_error", client and client.id or "-", tostring(err):match("[^\n]*"))
end)

hub.on("before_room_join", function(client, room)
  if room == "vip" and client:get("role") ~= "admin" then return false, "members only" end
  if room == "cursed" then error("before_room_join cursed") end
end)
hub.on("after_room_join", function(client, room)
  record("after_room_join", client.id, room, hub.room_count(room))
end)
hub.on("before_room_leave", function(client, room)
  record("before_room_leave", client.id, room, client:in_room(room))
end)
hub.on("after_room_leave", function(client, room, why)
  record("after_room_leave", client.id, room, client:in_room(room), why)
end)

local dropped = 0
hub.on("on_send_dropped", function(client, data, binary)
  dropped = dropped + 1
  record("dropped", client.id, #data, data:sub(1, 6), binary)
end)
hub.route("GET", "/dropped", function() return 200, { count = dropped } end)

local router = hub.router(function(msg)
  local d = msg:json()
  return type(d) == "table" and d.type or "text"
end)
router:on("text", function(client, msg) client:send("echo:" .. msg.data) end)
router:on("whoami", function(client)
  client:send_json { id = client.id, user_id = client.user_id, role = client:get("role"),
                     level = client:get("level"), verified = client:get("verified") }
end)
router:on("join", function(client, msg)
  local ok, err, detail = client:join(msg:json().room)
  client:send_json { type = "join", ok = ok == true, err = err, detail = detail }
end)
router:on("leave", function(client, msg)
  local ok, err = client:leave(msg:json().room)
  client:send_json { type = "leave", ok = ok == true, err = err }
end)
router:on("fail", function() error("handler failed on purpose") end)

local function numbered(i, size) return string.format("%06d", i) .. string.rep("x", size - 6) end

-- count messages of size bytes at once: the queue takes send_queue.messages, the rest drop.
router:on("flood", function(client, msg)
  local d = msg:json()
  local queued, full = 0, 0
  for i = 1, d.count do
    local ok, err = client:send(numbered(i, d.size))
    if ok then queued = queued + 1 elseif err == "queue_full" then full = full + 1 end
  end
  record("flood", client.id, queued, full)
end)

-- One message of size bytes every tick, to a client that does not read, until one drops.
router:on("trickle", function(client, msg)
  local d = msg:json()
  local sent, timer = 0, nil
  timer = hub.every(0.002, function()
    sent = sent + 1
    local ok, err = client:send(numbered(sent, d.size))
    if not ok then
      record("trickle", client.id, sent, err)
      timer:cancel()
    elseif sent >= 5000 then
      record("trickle", client.id, sent, "never dropped")
      timer:cancel()
    end
  end)
end)

hub.handle(router)
]]

local function bearer(name) return { headers = { Authorization = "Bearer " .. name } } end

describe("hooks", function()
  local srv

  lazy_setup(function() srv = t.start(t.write_script(SCRIPT)) end)
  lazy_teardown(t.cleanup)

  local function connect(name) return assert(srv:connect(bearer(name or "alice"))) end

  local function whoami(c)
    c:send_json { type = "whoami" }
    return assert(c:receive_json())
  end

  describe("before_connect", function()
    it("refuses a connection without a token with 401 and the hook's reason, without upgrading", function()
      local status, headers, body = hubs.assert_refused(srv, {}, 401)
      assert.equal(401, status)
      assert.is_nil(headers["upgrade"])
      assert.is_nil(headers["sec-websocket-accept"])
      assert.truthy(body:find("a bearer token is required", 1, true), body)
    end)

    it("refuses a banned user with 403, and after_connect never runs for a refused request", function()
      local _, _, body = hubs.assert_refused(srv, bearer("mallory"), 403)
      assert.truthy(body:find("banned", 1, true), body)
      local c = connect("alice")
      local me = whoami(c)
      local events = observe.wait_events(srv, "after_connect " .. me.id .. " alice")
      local refused_id
      for _, e in ipairs(events) do refused_id = e:match("^refused (%d+) 403$") or refused_id end
      assert.truthy(refused_id, "before_connect did not record the refusal")
      for _, e in ipairs(events) do
        assert.is_nil(e:match("^after_connect " .. refused_id .. " "), "after_connect ran for a refused request")
      end
    end)

    it("gives the connection the user id and metadata it returns", function()
      local me = whoami(connect("alice"))
      assert.equal("alice", me.user_id)
      assert.equal("member", me.role)
      assert.equal(3, me.level)
      assert.is_true(me.verified)
      assert.equal("root", whoami(connect("root")).user_id)
    end)

    it("answers 500 when the hook throws, and reports the error to on_error and the log", function()
      local _, headers = hubs.assert_refused(srv, { query = { explode = "1" } }, 500)
      assert.is_nil(headers["sec-websocket-accept"])
      observe.wait_match(srv, "^on_error %- .*before_connect exploded$")
      assert.truthy(srv:wait_log("before_connect exploded", 3), srv:log())
      assert.equal("alice", whoami(connect("alice")).user_id, "the server stopped accepting after the error")
    end)
  end)

  describe("after_connect, before_disconnect and after_disconnect", function()
    it("runs after_connect once the connection is open, with the user id set", function()
      local me = whoami(connect("bob"))
      observe.wait_events(srv, "after_connect " .. me.id .. " bob")
    end)

    it("runs before_disconnect while the client still has its rooms; after_disconnect once it left them and the hub, with the close code", function()
      local watcher = connect("watcher")
      watcher:send_json { type = "join", room = "watchers" }
      assert.is_true(watcher:receive_json().ok)
      local leaving = connect("carol")
      local id = whoami(leaving).id
      for _, room in ipairs { "a", "b" } do
        leaving:send_json { type = "join", room = room }
        assert.is_true(leaving:receive_json().ok)
      end
      leaving:close(1000, "bye")
      leaving:expect_close(1000)
      assert.equal("left " .. id .. " 1000", watcher:receive())
      local leaves = { "after_room_leave " .. id .. " a false disconnect",
                       "after_room_leave " .. id .. " b false disconnect" }
      local events = observe.wait_events(srv, { "before_disconnect " .. id .. " carol a,b", leaves[1], leaves[2],
                                                "after_disconnect " .. id .. " 1000 0 true carol" })
      -- before_disconnect in its rooms, then one leave per room (told apart from a leave),
      -- then after_disconnect
      local before = observe.index_of(events, "before_disconnect " .. id .. " carol a,b")
      local after = observe.index_of(events, "after_disconnect " .. id .. " 1000 0 true carol")
      for _, leave in ipairs(leaves) do
        local at = observe.index_of(events, leave)
        assert.is_true(before < at and at < after, leave)
      end
    end)

    it("reports 1006 to after_disconnect when the TCP connection drops without a close frame", function()
      local watcher = connect("watcher")
      watcher:send_json { type = "join", room = "watchers" }
      assert.is_true(watcher:receive_json().ok)
      local dropping = connect("dave")
      local id = whoami(dropping).id
      dropping:disconnect()
      assert.equal("left " .. id .. " 1006", watcher:receive())
    end)
  end)

  describe("before_message and after_message", function()
    it("hands the handler the message a before_message hook rewrote, through every hook in order", function()
      local c = connect()
      c:send("shout")
      assert.equal("echo:SHOUT!", c:receive())
    end)

    it("passes a message unchanged when before_message returns nothing", function()
      local c = connect()
      c:send("plain")
      assert.equal("echo:plain", c:receive())
    end)

    it("drops a message when before_message returns nil, reason; after_message gets the reason", function()
      local c = connect()
      local id = whoami(c).id
      c:send("secret")
      c:send("next")
      assert.equal("echo:next", c:receive(), "the dropped message reached the handler")
      observe.wait_events(srv, "after_message " .. id .. " secret censored")
    end)

    it("drops a message when before_message returns a bare nil; after_message gets \"dropped\"", function()
      local c = connect()
      local id = whoami(c).id
      c:send("void")
      c:send("next")
      assert.equal("echo:next", c:receive(), "the dropped message reached the handler")
      observe.wait_events(srv, "after_message " .. id .. " void dropped")
    end)

    it("drops a message whose before_message hook throws: on_error and after_message see hook_error", function()
      local c = connect()
      local id = whoami(c).id
      c:send("trip")
      c:send("next")
      assert.equal("echo:next", c:receive(), "the message reached the handler after its hook failed")
      observe.wait_events(srv, "after_message " .. id .. " trip hook_error")
      observe.wait_match(srv, "^on_error " .. id .. " .*before_message tripped$")
    end)

    it("calls after_message with no error for a handled message", function()
      local c = connect()
      local id = whoami(c).id
      c:send("fine")
      assert.equal("echo:fine", c:receive())
      observe.wait_events(srv, "after_message " .. id .. " fine nil")
    end)

    it("gives after_message not_found for an event the router does not know", function()
      local c = connect()
      local id = whoami(c).id
      c:send('{"type":"nope"}')
      observe.wait_events(srv, "after_message " .. id .. ' {"type":"nope"} not_found')
    end)
  end)

  describe("on_error", function()
    it("receives a handler's error with its client; after_message sees handler_error; the connection lives", function()
      local c = connect()
      local id = whoami(c).id
      c:send('{"type":"fail"}')
      c:send("still here")
      assert.equal("echo:still here", c:receive())
      observe.wait_match(srv, "^on_error " .. id .. " .*handler failed on purpose$")
      observe.wait_events(srv, "after_message " .. id .. ' {"type":"fail"} handler_error')
    end)
  end)

  describe("room hooks", function()
    local function join(c, room)
      c:send_json { type = "join", room = room }
      return assert(c:receive_json())
    end

    it("denies a join when before_room_join returns false, reason: join returns nil, \"denied\", reason", function()
      local c = connect("erin")
      local r = join(c, "vip")
      assert.same({ type = "join", ok = false, err = "denied", detail = "members only" }, r)
      local id = whoami(c).id
      local events = observe.get_json(srv, "/events")
      assert.is_false(observe.includes(events, "after_room_join " .. id .. " vip 1"))
      assert.is_true(join(connect("root"), "vip").ok, "an admin may join")
    end)

    it("denies a join when before_room_join throws, and reports the error", function()
      local c = connect()
      local id = whoami(c).id
      local r = join(c, "cursed")
      assert.is_false(r.ok)
      assert.equal("denied", r.err)
      observe.wait_match(srv, "^on_error " .. id .. " .*before_room_join cursed$")
    end)

    it("runs after_room_join once the client is a member, and the leave hooks around leaving", function()
      local c = connect()
      local id = whoami(c).id
      assert.is_true(join(c, "garden").ok)
      c:send_json { type = "leave", room = "garden" }
      assert.is_true(c:receive_json().ok)
      local events = observe.wait_events(srv, {
        "after_room_join " .. id .. " garden 1",
        "before_room_leave " .. id .. " garden true",
        "after_room_leave " .. id .. " garden false leave",
      })
      assert.is_true(observe.index_of(events, "before_room_leave " .. id .. " garden true")
                     < observe.index_of(events, "after_room_leave " .. id .. " garden false leave"))
    end)
  end)
end)

describe("on_send_dropped", function()
  local srv

  lazy_setup(function()
    srv = t.start(t.write_script(SCRIPT), { send_queue = { messages = 2, policy = "drop_newest" } })
  end)
  lazy_teardown(t.cleanup)

  local function id_of(c)
    c:send_json { type = "whoami" }
    return assert(c:receive_json()).id
  end

  -- The core writes a full queue out before dropping (a queue filling within one pass is
  -- not a slow client), so a flood drops only once the kernel buffers are full too: 400
  -- messages of 64 KiB (26 MB) to a client that does not read always get there.
  it("fires for every send the full queue drops, with the dropped data", function()
    local c = assert(srv:connect(bearer("frank")))
    local id = id_of(c)
    c:send_json { type = "flood", count = 400, size = 65536 }
    local entry = observe.wait_match(srv, "^flood " .. id .. " ")
    local queued, full = entry:match(" (%d+) (%d+)$")
    queued, full = tonumber(queued), tonumber(full)
    assert.equal(400, queued + full)
    assert.is_true(full > 0, "nothing was dropped: " .. entry)
    local wanted = {}
    for i = queued + 1, 400 do wanted[#wanted + 1] = ("dropped %s 65536 %06d false"):format(id, i) end
    local events = observe.wait_events(srv, wanted)
    for _, e in ipairs(events) do
      local seq = e:match("^dropped " .. id .. " %d+ (%d+)")
      assert.is_true(seq == nil or tonumber(seq) > queued, "a queued message was reported dropped: " .. e)
    end
    c:disconnect()
  end)

  it("fires once a client that stops reading lets the kernel buffers and then its queue fill", function()
    local c = assert(srv:connect(bearer("gina")))
    local id = id_of(c)
    c:send_json { type = "trickle", size = 65536 }
    local entry = observe.wait_match(srv, "^trickle " .. id .. " ", nil)
    assert.truthy(entry:match(" queue_full$"), entry)
    observe.wait_match(srv, "^dropped " .. id .. " 65536 %d+ false$")
    c:disconnect()
  end)
end)

describe("on_send_dropped with the other send_queue policies", function()
  lazy_teardown(t.cleanup)

  local function flood(srv, user, count)
    local c = assert(srv:connect(bearer(user)))
    c:send_json { type = "whoami" }
    local id = assert(c:receive_json()).id
    c:send_json { type = "flood", count = count, size = 65536 }
    return c, id
  end

  it("drop_oldest: the evicted messages are reported, and the client gets the newest", function()
    local srv = t.start(t.write_script(SCRIPT), { send_queue = { messages = 2, policy = "drop_oldest" } })
    local c, id = flood(srv, "olga", 400)
    observe.wait_match(srv, "^flood " .. id .. " 400 0$")
    -- every message either reaches the client or is reported evicted, never both
    local got = {}
    local last
    repeat
      last = tonumber(assert(c:receive(10)):sub(1, 6))
      got[last] = true
    until last == 400
    local body = select(3, srv:http("GET", "/events"))
    local evicted = 0
    for seq in body:gmatch("dropped " .. id .. " 65536 (%d+) false") do
      assert.is_nil(got[tonumber(seq)], "message " .. seq .. " was both delivered and reported dropped")
      got[tonumber(seq)] = true
      evicted = evicted + 1
    end
    assert.is_true(evicted > 0, "nothing was evicted")
    for i = 1, 400 do assert.truthy(got[i], "message " .. i .. " neither delivered nor reported") end
    srv:stop()
  end)

  it("close: the client is closed with 1008 and every message it did not get is reported", function()
    local srv = t.start(t.write_script(SCRIPT), { send_queue = { messages = 2, policy = "close" } })
    local c, id = flood(srv, "cleo", 400)
    local entry = observe.wait_match(srv, "^flood " .. id .. " ")
    local queued = tonumber(entry:match(" (%d+) 1$"))
    assert(queued, "expected exactly one queue_full: " .. entry)
    local overflowed = ("dropped %s 65536 %06d false"):format(id, queued + 1)
    observe.wait_events(srv, { overflowed })
    -- what reached the client before the close, then the close itself
    local got = {}
    while true do
      local data, err, code = c:receive(10)
      if not data then
        assert.equal("closed", err)
        assert.equal(1008, code)
        break
      end
      got[tonumber(data:sub(1, 6))] = true
    end
    -- the messages queued behind the full socket were dropped with the client, and are
    -- reported as such: each one either arrived or is reported, never both, none lost
    local body = select(3, srv:http("GET", "/events"))
    for seq in body:gmatch("dropped " .. id .. " 65536 (%d+) false") do
      seq = tonumber(seq)
      assert.is_true(seq <= queued + 1, "reported after the close: " .. seq)
      assert.is_nil(got[seq], "message " .. seq .. " was both delivered and reported dropped")
      got[seq] = true
    end
    for i = 1, queued + 1 do assert.truthy(got[i], "message " .. i .. " neither delivered nor reported") end
    srv:stop()
  end)
end)

describe("a before_disconnect hook that sends", function()
  local RESETS = [[
local hub = require "luahub"
hub.on("before_disconnect", function(client) hub.broadcast("bye " .. client.id) end)
hub.handle(function(client, msg)
  if msg.data == "join" then
    client:join("r")
    return client:send("joined")
  end
  hub.to_room("r", msg.data)
end)
]]

  lazy_teardown(t.cleanup)

  -- A reset found by a write (not by a read) tears the connection down in the middle of
  -- the flush; the hook's broadcast then queues to the very connection being freed.
  it("survives clients resetting their connections while a burst to their room is written", function()
    local srv = t.start(t.write_script(RESETS), { send_queue = { messages = 100000, bytes = 0 } })
    local burst = {}
    for i = 1, 2000 do burst[i] = t.encode_frame { opcode = 1, payload = string.rep("x", 100) } end
    burst = table.concat(burst)
    for round = 1, 10 do
      local members = {}
      for i = 1, 20 do
        local m = assert(srv:connect(), "round " .. round .. ": the server stopped accepting")
        m:send("join")
        assert.equal("joined", m:receive())
        members[i] = m
      end
      local sender = assert(srv:connect())
      sender:send_raw(burst)
      for _, m in ipairs(members) do
        m.sock:setoption("linger", { on = true, timeout = 0 })
        m:disconnect()
      end
      sender:disconnect()
    end
    local c = assert(srv:connect(), "the server stopped accepting:\n" .. srv:log():sub(-3000))
    c:send("join")
    assert.equal("joined", c:receive())
    assert.is_nil(srv:log():find("Sanitizer", 1, true), srv:log():sub(-3000))
  end)
end)

describe("on_send_dropped for a send made inside the flush", function()
  -- after_disconnect runs where the flush tears a connection down; what its sends drop
  -- must reach on_send_dropped without waiting for the loop's next event (the next
  -- would be a ping, a minute away). The hook fills the sink's socket and queue itself,
  -- so its last send is dropped whatever the kernel took before.
  local DROPS = [[
local hub = require "luahub"
hub.on("after_disconnect", function(client)
  for _ = 1, 400 do hub.to_room("sink", string.rep("x", 65536)) end
  hub.to_room("sink", "left " .. client.id)
end)
hub.on("on_send_dropped", function(client, data)
  if data:sub(1, 5) == "left " then hub.to_room("watch", "dropped " .. data) end
end)
hub.handle(function(client, msg)
  if msg.data == "sink" or msg.data == "watch" then
    client:join(msg.data)
    return client:send("joined")
  end
end)
]]

  lazy_teardown(t.cleanup)

  it("fires in the pass after the flush that dropped it", function()
    local srv = t.start(t.write_script(DROPS), { send_queue = { messages = 2, policy = "drop_newest" } })
    local watcher = assert(srv:connect())
    watcher:send("watch")
    assert.equal("joined", watcher:receive(5))
    local sink = assert(srv:connect())   -- reads nothing after its join
    sink:send("sink")
    assert.equal("joined", sink:receive(5))
    local leaving = assert(srv:connect())
    leaving:send("hello")
    leaving:disconnect()
    local report = assert(watcher:receive(5))
    assert.truthy(report:match("^dropped left %d+$"), report)
    srv:stop()
  end)
end)
