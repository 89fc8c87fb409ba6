-- examples/chat against a real server: rooms, notices, history, validation, typing,
-- presence, room switching, rate limiting, and the web client served by the root hub.lua.
local cjson = require "cjson.safe"
local socket = require "socket"
local t = require "luahub.testing"

local CHAT = t.repo_root() .. "/examples/chat/hub.lua"

-- The next message of one of the wanted types, skipping the others ("rooms" updates
-- arrive on a timer, presence after every change).
local function expect(c, wanted, timeout)
  local want = type(wanted) == "table" and wanted or { wanted }
  local m, err = c:receive_until(function(data)
    local m = cjson.decode(data)
    for _, w in ipairs(want) do
      if m and m.type == w then return m end
    end
  end, timeout or 3)
  assert(m, "expected a " .. table.concat(want, "/") .. " message: " .. tostring(err))
  return m
end

-- Connects to srv and joins; returns the client once its own join notice arrived.
local function join_on(srv, name, room)
  local c = assert(srv:connect())
  c:send_json { type = "join", username = name, room = room }
  repeat
    local m = expect(c, { "join", "error" })
    assert.are_not.equal("error", m.type, m.text)
  until m.username == name
  return c
end

local function say(c, text) c:send_json { type = "message", text = text } end

describe("examples/chat", function()
  local srv

  lazy_setup(function() srv = t.start(CHAT) end)
  lazy_teardown(t.cleanup)

  local function join(name, room) return join_on(srv, name, room) end

  it("announces a newcomer to the room, with username, room and timestamp", function()
    local alice = join("alice", "notices")
    local bob = join("bob", "notices")
    local m = expect(alice, "join")
    assert.equal("bob", m.username)
    assert.equal("notices", m.room)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", m.timestamp)
    assert.equal("bob joined", m.text)
    bob:disconnect()
    local left = expect(alice, "leave")
    assert.equal("bob", left.username)
    assert.equal("notices", left.room)
  end)

  it("delivers messages as {type, username, text, timestamp, room} to the whole room", function()
    local alice, bob = join("alice", "talk"), join("bob", "talk")
    say(alice, "hello bob")
    for _, c in ipairs { alice, bob } do
      local m = expect(c, "message")
      assert.equal("alice", m.username)
      assert.equal("hello bob", m.text)
      assert.equal("talk", m.room)
      assert.is_string(m.timestamp)
    end
  end)

  it("marks a message with its sender's connection, which a namesake does not share", function()
    local ada = assert(srv:connect())
    ada:send_json { type = "join", username = "ada", room = "namesake" }
    local you = expect(ada, "history").you
    assert.is_string(you)
    say(ada, "from the first ada")
    assert.equal(you, expect(ada, "message").sender)
    ada:disconnect()
    local again = assert(srv:connect())
    again:send_json { type = "join", username = "ada", room = "namesake" }
    local h = expect(again, "history")
    assert.are_not.equal(you, h.you)
    assert.equal(you, h.messages[#h.messages].sender, "history keeps the sender")
  end)

  it("stamps every frame in milliseconds, in order: join, message, error, leave", function()
    local MS = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"
    local watcher, talker = join("watcher", "stamps"), join("talker", "stamps")
    local stamps = { expect(watcher, "join").timestamp }
    say(talker, "tick")
    stamps[#stamps + 1] = expect(watcher, "message").timestamp
    talker:send_json { type = "message", text = "" }
    stamps[#stamps + 1] = expect(talker, "error").timestamp
    talker:disconnect()
    stamps[#stamps + 1] = expect(watcher, "leave").timestamp
    for i, stamp in ipairs(stamps) do
      assert.matches(MS, stamp)
      if i > 1 then assert.is_true(stamps[i - 1] <= stamp, stamps[i - 1] .. " > " .. stamp) end
    end
  end)

  it("keeps rooms apart", function()
    local here, there = join("ann", "room-a"), join("ann", "room-b")
    say(here, "only in a")
    say(there, "only in b")
    assert.equal("only in b", expect(there, "message").text)
    assert.equal("only in a", expect(here, "message").text)
  end)

  it("defaults to the room 'general'", function()
    local c = assert(srv:connect())
    c:send_json { type = "join", username = "defaulted" }
    assert.equal("general", expect(c, "history").room)
    assert.equal("general", expect(c, "join").room)
  end)

  it("sends a newcomer the last 50 messages of the room, oldest first", function()
    -- ten talkers of six messages each: their joins and messages stay within the rate
    -- limit's burst of 10
    for n = 0, 9 do
      local talker = join("talker" .. n, "history")
      for i = n * 6 + 1, n * 6 + 6 do
        say(talker, "message " .. i)
        assert.equal("message " .. i, expect(talker, { "message", "error" }).text)
      end
      talker:disconnect()
    end
    local newcomer = assert(srv:connect())
    newcomer:send_json { type = "join", username = "newcomer", room = "history" }
    local h = expect(newcomer, "history")
    assert.equal("history", h.room)
    assert.equal(50, #h.messages)
    assert.equal("message 11", h.messages[1].text)
    assert.equal("message 60", h.messages[50].text)
    assert.equal("talker9", h.messages[50].username)
  end)

  it("sends an empty history list to the first in a room", function()
    local c = assert(srv:connect())
    c:send_json { type = "join", username = "first", room = "empty-room" }
    local h = expect(c, "history")
    assert.same({}, h.messages)
  end)

  describe("validation", function()
    local cases = {
      { "an empty text", { type = "message", text = "" }, "empty_text" },
      { "a blank text", { type = "message", text = "   \n " }, "empty_text" },
      { "a text over 1000 characters", { type = "message", text = string.rep("x", 1001) }, "text_too_long" },
      { "a number as text", { type = "message", text = 42 }, "bad_text" },
      { "a missing text", { type = "message" }, "bad_text" },
      { "an unknown type", { type = "shout", text = "hi" }, "unknown_type" },
    }
    for _, case in ipairs(cases) do
      it("answers " .. case[1] .. " with an error to the sender only", function()
        local sender, other = join("sender", "validation"), join("other", "validation")
        sender:send_json(case[2])
        local err = expect(sender, { "error", "message" })
        assert.equal("error", err.type)
        assert.equal(case[3], err.code)
        assert.is_string(err.text)
        -- the other client's next message is the sender's valid one, not an error
        say(sender, "valid")
        local seen = expect(other, { "error", "message" })
        assert.equal("message", seen.type)
        assert.equal("valid", seen.text)
        sender:disconnect()
        other:disconnect()
      end)
    end

    it("accepts 1000 multi-byte characters", function()
      local c = join("unicode", "validation-utf8")
      local text = string.rep("é", 1000)
      say(c, text)
      assert.equal(text, expect(c, { "message", "error" }).text)
    end)

    local bad_joins = {
      { "an empty username", { type = "join", username = "  " }, "empty_username" },
      { "a numeric username", { type = "join", username = 7 }, "bad_username" },
      { "a missing username", { type = "join", room = "x" }, "bad_username" },
      { "a 25-character username", { type = "join", username = string.rep("u", 25) }, "username_too_long" },
      { "a username with control characters", { type = "join", username = "a\tb" }, "bad_username" },
      { "a room with spaces", { type = "join", username = "u", room = "a room" }, "bad_room" },
      { "a room that is a table", { type = "join", username = "u", room = { 1 } }, "bad_room" },
    }
    for _, case in ipairs(bad_joins) do
      it("refuses a join with " .. case[1], function()
        local c = assert(srv:connect())
        c:send_json(case[2])
        local err = expect(c, { "error", "join" })
        assert.equal(case[3], err.code)
        c:disconnect()
      end)
    end

    it("answers a message sent before joining with not_in_room", function()
      local c = assert(srv:connect())
      say(c, "hello?")
      assert.equal("not_in_room", expect(c, "error").code)
    end)

    it("answers a non-JSON frame with bad_json", function()
      local c = assert(srv:connect())
      c:send("not json")
      assert.equal("bad_json", expect(c, "error").code)
    end)
  end)

  describe("usernames", function()
    it("are unique per room, ignoring case", function()
      local first, witness = join("Carol", "unique"), join("witness", "unique")
      local second = assert(srv:connect())
      second:send_json { type = "join", username = "carol", room = "unique" }
      local err = expect(second, { "error", "join" })
      assert.equal("username_taken", err.code)
      -- the name is free again once its holder has left
      first:disconnect()
      assert.equal("Carol", expect(witness, "leave").username)
      second:send_json { type = "join", username = "carol", room = "unique" }
      assert.equal("carol", expect(second, "join").username)
    end)

    it("may repeat across rooms", function()
      join("dave", "unique-a")
      join("dave", "unique-b")
    end)
  end)

  it("relays typing to the others in the room, not to the typist", function()
    local typist, reader = join("typist", "typing"), join("reader", "typing")
    typist:send_json { type = "typing", typing = true }
    local m = expect(reader, "typing")
    assert.equal("typist", m.username)
    assert.equal("typing", m.room)
    assert.is_true(m.typing)
    typist:send_json { type = "typing", typing = false }
    assert.is_false(expect(reader, "typing").typing)
    -- the typist's next message is its own chat line, not its typing echo
    say(typist, "done typing")
    assert.equal("message", expect(typist, { "typing", "message" }).type)
  end)

  it("sends the member list of the room after every change", function()
    local erin = join("erin", "presence")
    assert.same({ "erin" }, expect(erin, "presence").members)
    local frank = join("frank", "presence")
    assert.same({ "erin", "frank" }, expect(erin, "presence").members)
    assert.same({ "erin", "frank" }, expect(frank, "presence").members)
    frank:disconnect()
    assert.same({ "erin" }, expect(erin, "presence").members)
    erin:send_json { type = "presence" }
    assert.same({ "erin" }, expect(erin, "presence").members)
  end)

  it("switches rooms: leaves the old one with a notice and joins the new one", function()
    local mover, stayer, host = join("mover", "lobby"), join("stayer", "lobby"), join("host", "stage")
    mover:send_json { type = "join", username = "mover", room = "stage" }
    local left = expect(stayer, "leave")
    assert.equal("mover", left.username)
    assert.equal("lobby", left.room)
    assert.same({ "stayer" }, expect(stayer, "presence").members)
    assert.equal("mover", expect(host, "join").username)
    assert.equal("stage", expect(mover, "history").room)
    say(mover, "on stage")
    assert.equal("on stage", expect(host, "message").text)
    assert.equal("on stage", expect(mover, "message").text)
    -- the lobby no longer reaches the mover: its next message is the stage's
    say(stayer, "still in the lobby")
    assert.equal("still in the lobby", expect(stayer, "message").text)
    say(host, "stage only")
    assert.equal("stage only", expect(mover, "message").text)
  end)

  it("leaves a room on request, with a notice to the leaver and the room", function()
    local goer, stayer = join("goer", "exit"), join("stayer", "exit")
    goer:send_json { type = "leave" }
    assert.equal("goer", expect(goer, "leave").username)
    assert.equal("goer", expect(stayer, "leave").username)
    say(goer, "anyone?")
    assert.equal("not_in_room", expect(goer, "error").code)
  end)

  it("lists the rooms with their member counts", function()
    join("lister", "listed")
    local c = assert(srv:connect())
    c:send_json { type = "rooms" }
    local found
    repeat
      local m = expect(c, "rooms")
      for _, r in ipairs(m.rooms) do
        if r.name == "listed" then found = r end
      end
    until found
    assert.equal(1, found.members)
  end)

  it("gives each listed room its position, which every message moves on (pages count unread by it)", function()
    local poster = join("poster", "counted")
    local watcher = assert(srv:connect())
    local function position()
      local m = expect(watcher, "rooms")
      for _, r in ipairs(m.rooms) do
        if r.name == "counted" then return r end
      end
    end
    local before
    repeat before = position() until before
    say(poster, "one")
    say(poster, "two")
    t.eventually(function()
      local now = position()
      return now and now.epoch == before.epoch and now.offset == before.offset + 2, now and now.offset
    end, { message = "the room list never showed the room two messages further" })
  end)

  it("rate-limits a flood and tells the sender", function()
    local flooder, reader = join("flooder", "flood"), join("reader", "flood")
    for i = 1, 30 do say(flooder, "spam " .. i) end
    local err = expect(flooder, "error")
    assert.equal("rate_limited", err.code)
    say(reader, "end")
    local delivered = 0
    while true do
      local m = expect(reader, "message")
      if m.text == "end" then break end
      delivered = delivered + 1
    end
    assert.is_true(delivered >= 5 and delivered < 30, "delivered " .. delivered .. " of 30")
  end)
end)

describe("examples/chat against crafted input", function()
  local srv

  lazy_setup(function() srv = t.start(CHAT) end)
  lazy_teardown(t.cleanup)

  -- Two letters around a run of blanks, just under the 16 KiB frame limit: a trim with
  -- gsub("%s+$") retried the run from each of its blanks, about a second per frame.
  local PADDED = "x" .. string.rep(" ", 16300) .. "x"
  -- Far below the ten seconds the quadratic trim took, far above a linear one on a busy box.
  local BOUND = 3

  it("answers everyone within seconds after ten padded usernames and texts", function()
    local renamer, talker = assert(srv:connect()), join_on(srv, "talker", "padded")
    local witness = join_on(srv, "witness", "padded")
    local started = socket.gettime()
    for _ = 1, 5 do
      renamer:send_json { type = "join", username = PADDED, room = "padded" }
      say(talker, PADDED)
    end
    say(witness, "still here")
    for _ = 1, 5 do
      assert.equal("username_too_long", expect(renamer, "error", 30).code)
      assert.equal("text_too_long", expect(talker, "error", 30).code)
    end
    assert.equal("still here", expect(witness, "message", 30).text)
    local took = socket.gettime() - started
    assert.is_true(took < BOUND, ("the hub took %.1f s to answer"):format(took))
  end)
end)

describe("examples/chat across a reload", function()
  local srv

  lazy_setup(function() srv = t.start(CHAT) end)
  lazy_teardown(t.cleanup)

  it("still sends the room list when SIGHUP lands while an update is pending", function()
    local observer = assert(srv:connect())
    expect(observer, "rooms")                       -- the list every client gets on connect
    -- The join schedules the list's update a quarter second later; the reload, a few
    -- milliseconds after the join was handled, cancels the old script's timers.
    join_on(srv, "mover", "just-made")
    assert.is_true(srv:signal("HUP"))
    assert.truthy(srv:wait_log("reloaded ", 3), srv:log())
    local update = expect(observer, "rooms")
    assert.equal(1, #update.rooms)
    local room = update.rooms[1]
    assert.same({ "just-made", 1, 0 }, { room.name, room.members, room.offset })
    assert.equal("string", type(room.epoch))
  end)
end)

describe("examples/chat across several reloads", function()
  local srv

  lazy_setup(function() srv = t.start(CHAT) end)
  lazy_teardown(t.cleanup)

  it("keeps the room's history and members (both live in the core, not in the script)", function()
    local alice, bob = join_on(srv, "alice", "kept"), join_on(srv, "bob", "kept")
    say(alice, "before the reloads")
    expect(bob, "message")
    for _ = 1, 3 do assert.is_true(srv:reload()) end
    say(bob, "after them")
    expect(alice, "message")
    local carol = assert(srv:connect())
    carol:send_json { type = "join", username = "carol", room = "kept" }
    local history = expect(carol, "history")
    local texts = {}
    for _, m in ipairs(history.messages) do texts[#texts + 1] = m.text end
    assert.same({ "before the reloads", "after them" }, texts)
    carol:send_json { type = "presence" }
    local presence
    repeat presence = expect(carol, "presence") until #presence.members == 3
    assert.same({ "alice", "bob", "carol" }, presence.members)
  end)
end)

describe("the root hub.lua", function()
  local srv

  lazy_setup(function() srv = t.start(t.repo_root() .. "/hub.lua") end)
  lazy_teardown(t.cleanup)

  it("serves the chat web client", function()
    for _, path in ipairs { "/", "/app.js", "/style.css" } do
      local status, _, body = srv:http("GET", path)
      assert.equal(200, status, path)
      assert.is_true(#body > 100, path)
    end
    local _, headers, body = srv:http("GET", "/")
    assert.matches("^text/html", headers["content-type"])
    assert.truthy(body:find("app.js", 1, true))
  end)

  it("runs the chat", function()
    local c = assert(srv:connect())
    c:send_json { type = "join", username = "root" }
    assert.equal("general", expect(c, "join").room)
  end)
end)
