-- Hub operations and lookups: fan-out to everyone, rooms, users and single clients, and
-- the counts a script reads, driven through spec/support/api_hub.lua. Each test gets a
-- fresh server, so a broadcast reaches only that test's clients.
local cjson = require "cjson"
local socket = require "socket"
local api = require "support.api_hub"
local t = require "luahub.testing"

local call, id_of = api.call, api.id

describe("hub operations", function()
  local srv

  before_each(function() srv = api.start() end)
  after_each(function() srv:stop() end)
  lazy_teardown(t.cleanup)

  local function connect(opts) return assert(srv:connect(opts)) end

  local function clients(n)
    local list = {}
    for i = 1, n do list[i] = connect() end
    return list
  end

  -- Runs op as c when c itself receives the fan-out first; returns the reply.
  local function call_and_receive_own(c, op, args, expected)
    args.op = op
    c:send_json(args)
    assert.equal(expected, c:receive())
    return assert(c:receive_json())
  end

  -- The next message each client gets is `marker` (broadcast by `by`): whatever an
  -- earlier operation would have wrongly sent them arrives before it.
  local function assert_next_is_marker(by, list)
    local reply = call(by, "broadcast", { text = "marker", except = { id_of(by) } })
    assert.is_number(reply.value)
    for i, c in ipairs(list) do assert.equal("marker", c:receive(), "client " .. i) end
  end

  describe("broadcast", function()
    it("reaches every client, the sender included, and returns how many it reached", function()
      local cs = clients(3)
      local reply = call_and_receive_own(cs[1], "broadcast", { text = "to all" }, "to all")
      assert.equal(3, reply.value)
      for i = 2, 3 do assert.equal("to all", cs[i]:receive()) end
    end)

    it("skips the one client given as except", function()
      local cs = clients(3)
      local reply = call(cs[1], "broadcast", { text = "not you", except = id_of(cs[1]) })
      assert.equal(2, reply.value)
      for i = 2, 3 do assert.equal("not you", cs[i]:receive()) end
      assert_next_is_marker(cs[2], { cs[1] })
    end)

    it("skips every client of an except list", function()
      local cs = clients(4)
      local reply = call(cs[1], "broadcast", { text = "some", except = { id_of(cs[1]), id_of(cs[2]) } })
      assert.equal(2, reply.value)
      for i = 3, 4 do assert.equal("some", cs[i]:receive()) end
      assert_next_is_marker(cs[3], { cs[1], cs[2] })
    end)

    it("sends binary frames with binary = true", function()
      local cs = clients(2)
      call(cs[1], "broadcast", { text = "bin", binary = true, except = id_of(cs[1]) })
      local data, kind = cs[2]:receive()
      assert.equal("bin", data)
      assert.equal("binary", kind)
    end)

    it("encodes a table once for everyone with broadcast_json", function()
      local cs = clients(2)
      local reply = call(cs[1], "broadcast_json", { value = { type = "news", n = 1 }, except = id_of(cs[1]) })
      assert.equal(1, reply.value)
      assert.same({ type = "news", n = 1 }, cs[2]:receive_json())
    end)
  end)

  describe("to_room", function()
    it("reaches the room's members only, and skips except", function()
      local a, b, c, outsider = connect(), connect(), connect(), connect()
      for _, m in ipairs { a, b, c } do call(m, "join", { room = "club" }) end
      local reply = call(a, "to_room", { room = "club", text = "members", except = id_of(a) })
      assert.equal(2, reply.value)
      assert.equal("members", b:receive())
      assert.equal("members", c:receive())
      assert_next_is_marker(b, { a, outsider })
    end)

    it("returns 0 for a room nobody is in", function()
      assert.equal(0, call(connect(), "to_room", { room = "empty", text = "anyone?" }).value)
    end)
  end)

  describe("to_client and to_user", function()
    it("sends to one client by id", function()
      local a, b = connect(), connect()
      assert.is_true(call(a, "to_client", { id = id_of(b), text = "just you" }).value)
      assert.equal("just you", b:receive())
    end)

    it("answers not_found for an unknown id and for a client that has left", function()
      local a, b = connect(), connect()
      local gone = id_of(b)
      local reply = call(a, "to_client", { id = "999999999", text = "x" })
      assert.is_nil(reply.value)
      assert.equal("not_found", reply.err)
      b:close(1000)
      b:expect_close(1000)
      t.eventually(function()
        local reply = call(a, "to_client", { id = gone, text = "x" })
        return reply.err == "not_found", reply
      end, { message = "a departed client's id still reaches something" })
    end)

    it("reaches every connection of a user, and lists them with user_clients", function()
      local phone, laptop, other = connect(), connect(), connect()
      call(phone, "set_user", { user = "ann" })
      call(laptop, "set_user", { user = "ann" })
      call(other, "set_user", { user = "ben" })
      local reply = call(other, "to_user", { user = "ann", text = "for ann" })
      assert.equal(2, reply.value)
      assert.equal("for ann", phone:receive())
      assert.equal("for ann", laptop:receive())
      local expected = { id_of(phone), id_of(laptop) }
      table.sort(expected)
      assert.same(expected, call(other, "user_clients", { user = "ann" }).value)
      assert.same({}, call(other, "user_clients", { user = "nobody" }).value)
      assert_next_is_marker(phone, { other })
    end)

    it("stops reaching a connection once its user id changes", function()
      local a, b = connect(), connect()
      call(a, "set_user", { user = "cat" })
      call(a, "set_user", { user = "dog" })
      assert.equal(0, call(b, "to_user", { user = "cat", text = "meow" }).value)
      assert.equal(1, call(b, "to_user", { user = "dog", text = "woof" }).value)
      assert.equal("woof", a:receive())
    end)
  end)

  describe("lookups", function()
    it("finds a client by id, and answers not_found for an unknown one", function()
      local a, b = connect(), connect()
      assert.equal(id_of(b), call(a, "client", { id = id_of(b) }).value)
      local reply = call(a, "client", { id = "123456789" })
      assert.is_nil(reply.value)
      assert.equal("not_found", reply.err)
    end)

    it("counts clients, and forgets one that disconnects", function()
      local a, leaving = connect(), connect()
      connect()
      assert.equal(3, call(a, "count").value)
      leaving:disconnect()
      t.eventually(function()
        local count = call(a, "count").value
        return count == 2, count
      end, { message = "hub.count() never came back to 2" })
    end)

    it("lists rooms, their members and sizes; a room exists while it has members", function()
      local a, b = connect(), connect()
      call(a, "join", { room = "red" })
      call(a, "join", { room = "blue" })
      call(b, "join", { room = "blue" })
      assert.same({ "blue", "red" }, call(a, "hub_rooms").value)
      local blue = { id_of(a), id_of(b) }
      table.sort(blue)
      assert.same(blue, call(a, "room_clients", { room = "blue" }).value)
      assert.same({}, call(a, "room_clients", { room = "green" }).value)
      assert.equal(2, call(a, "hub_room_count", { room = "blue" }).value)
      assert.equal(0, call(a, "hub_room_count", { room = "green" }).value)
      assert.equal(2, call(a, "hub_room_count").value, "room_count() with no room counts rooms")
      assert.is_true(call(a, "room_exists", { room = "red" }).value)
      assert.is_false(call(a, "room_exists", { room = "green" }).value)
    end)

    it("removes a room when its last member leaves or disconnects", function()
      local a, b = connect(), connect()
      call(a, "join", { room = "short" })
      call(b, "join", { room = "gone" })
      call(a, "leave", { room = "short" })
      assert.is_false(call(a, "room_exists", { room = "short" }).value)
      b:disconnect()
      t.eventually(function() return call(a, "room_exists", { room = "gone" }).value == false end,
                   { message = "a disconnected client's room survived" })
      assert.same({}, call(a, "hub_rooms").value)
    end)
  end)

  describe("server information, logging and JSON", function()
    it("reports its state, clock, uptime, node id and, on a single node, the local counts as global", function()
      local a, b = connect(), connect()
      call(a, "join", { room = "r1" })
      call(b, "join", { room = "r2" })
      local info = call(a, "info").value
      assert.equal("running", info.state)
      assert.is_true(math.abs(info.now - socket.gettime()) < 5, "hub.now() is not the wall clock: " .. info.now)
      assert.is_true(info.uptime >= 0 and info.uptime < 60, tostring(info.uptime))
      assert.is_string(info.node_id)
      assert.equal(2, info.global_count)
      assert.equal(2, info.global_room_count)
      assert.same({ { id = info.node_id, clients = 2, rooms = 2, self = true } }, info.nodes)
    end)

    it("writes hub.log lines at their level with the fields as JSON", function()
      local c = connect()
      call(c, "log", { level = "warn", text = "payment failed", fields = { order = 7 } })
      assert.truthy(srv:wait_log('warn%s+payment failed {"order":7}', 3), srv:log())
      call(c, "log", { level = "debug", text = "hidden at info" })
      call(c, "log", { level = "error", text = "after the debug line" })
      assert.truthy(srv:wait_log("error%s+after the debug line", 3), srv:log())
      assert.is_nil(srv:log():find("hidden at info", 1, true), "a debug line was written at level info")
    end)

    it("encodes and decodes JSON with hub.json, answering nil, \"bad_json\", detail for bad input", function()
      local reply = call(connect(), "json", { value = { a = { 1, 2 }, b = "x" }, broken = "{oops" })
      assert.same({ a = { 1, 2 }, b = "x" }, reply.value.decoded)
      assert.same({ a = { 1, 2 }, b = "x" }, cjson.decode(reply.value.encoded))
      assert.equal("bad_json", reply.err)
      assert.is_string(reply.detail)
    end)
  end)
end)
