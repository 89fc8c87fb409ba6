-- Client handles: sending to one connection, closing it, its rooms, identity, metadata
-- and request head, each called by the script (spec/support/api_hub.lua) and observed
-- on the real socket.
local socket = require "socket"
local api = require "support.api_hub"
local observe = require "support.observe"
local t = require "luahub.testing"

local call, id_of = api.call, api.id

describe("a client handle", function()
  local srv

  lazy_setup(function() srv = api.start() end)
  lazy_teardown(t.cleanup)

  local function connect(opts) return assert(srv:connect(opts)) end

  -- Runs a send operation on c; returns what c received, its kind, then the op's reply.
  local function deliver(c, op, args)
    args.op = op
    c:send_json(args)
    local data, kind = c:receive()
    return data, kind, assert(c:receive_json())
  end

  describe("sending", function()
    it("sends text with send()", function()
      local data, kind, reply = deliver(connect(), "send", { text = "héllo wörld" })
      assert.equal("héllo wörld", data)
      assert.equal("text", kind)
      assert.is_true(reply.value)
    end)

    it("sends binary with send_binary()", function()
      local data, kind, reply = deliver(connect(), "send_binary", { text = "raw bytes" })
      assert.equal("raw bytes", data)
      assert.equal("binary", kind)
      assert.is_true(reply.value)
    end)

    it("encodes a table with send_json()", function()
      local c = connect()
      local data, kind = deliver(c, "send_json", { value = { type = "hi", list = { 1, 2, 3 }, nested = { ok = true } } })
      assert.equal("text", kind)
      assert.same({ type = "hi", list = { 1, 2, 3 }, nested = { ok = true } }, require("cjson").decode(data))
    end)

    it("sends a JSON string untouched with send_raw_json()", function()
      local data, kind = deliver(connect(), "send_raw_json", { raw = '{"already":"encoded","n":1}' })
      assert.equal('{"already":"encoded","n":1}', data)
      assert.equal("text", kind)
    end)

    it("refuses to send invalid UTF-8 as text with bad_argument, and the connection lives on", function()
      local c = connect()
      local reply = call(c, "send_bytes", { bytes = { 0xff, 0xfe, 0x41 } })
      assert.is_nil(reply.value)
      assert.equal("bad_argument", reply.err)
      assert.truthy(id_of(c))
    end)

    it("forwards a binary message object as binary, to its rooms and back to the sender", function()
      local sender, member = connect(), connect()
      call(sender, "join", { room = "bin" })
      call(member, "join", { room = "bin" })
      local bytes = "\0\1\255\254 not UTF-8 \192"
      sender:send_binary(bytes)
      local data, kind = sender:receive()
      assert.equal(bytes, data)
      assert.equal("binary", kind)
      data, kind = member:receive()
      assert.equal(bytes, data)
      assert.equal("binary", kind)
    end)

    it("forwards a text message object as text with hub.to_room(room, msg)", function()
      local sender, member = connect(), connect()
      call(member, "join", { room = "relay" })
      local reply = call(sender, "relay", { room = "relay", tag = "relayed" })
      assert.equal(1, reply.value)
      local data, kind = member:receive()
      assert.equal("text", kind)
      assert.same({ op = "relay", room = "relay", tag = "relayed" }, require("cjson").decode(data))
    end)
  end)

  describe("closing", function()
    it("closes with the code and reason given, and is_closed() turns true at once", function()
      local watcher, c = connect(), connect()
      c:send_json { op = "close", code = 4001, reason = "kicked out", watcher = id_of(watcher) }
      local code, reason = c:expect_close(4001)
      assert.equal(4001, code)
      assert.equal("kicked out", reason)
      assert.same({ before = false, ok = true, after = true }, watcher:receive_json())
    end)

    it("closes with 1000 when no code is given", function()
      local watcher, c = connect(), connect()
      c:send_json { op = "close", watcher = id_of(watcher) }
      c:expect_close(1000)
    end)

    it("raises for a close code no endpoint may send; the script's error leaves the connection open", function()
      local c = connect()
      local id = id_of(c)
      c:send_json { op = "close", code = 1005 }
      assert.equal(id, id_of(c))
      observe.wait_json(srv, "/failures", function(failures)
        for _, f in ipairs(failures) do
          if f.client == id and f.err == "handler_error" then return true end
        end
      end)
    end)
  end)

  describe("rooms", function()
    it("joins, lists, checks and counts its rooms", function()
      local c = connect()
      assert.is_true(call(c, "join", { room = "b" }).value)
      assert.is_true(call(c, "join", { room = "a" }).value)
      assert.same({ "a", "b" }, call(c, "rooms").value)
      assert.is_true(call(c, "in_room", { room = "a" }).value)
      assert.is_false(call(c, "in_room", { room = "c" }).value)
      assert.equal(2, call(c, "room_count").value)
    end)

    it("answers already_in_room to a second join of the same room", function()
      local c = connect()
      call(c, "join", { room = "twice" })
      local reply = call(c, "join", { room = "twice" })
      assert.is_nil(reply.value)
      assert.equal("already_in_room", reply.err)
      assert.equal(1, call(c, "room_count").value)
    end)

    it("leaves a room, and answers not_in_room to leaving one it is not in", function()
      local c = connect()
      call(c, "join", { room = "brief" })
      assert.is_true(call(c, "leave", { room = "brief" }).value)
      assert.is_false(call(c, "in_room", { room = "brief" }).value)
      local reply = call(c, "leave", { room = "brief" })
      assert.is_nil(reply.value)
      assert.equal("not_in_room", reply.err)
    end)

    it("leaves every room with leave_all()", function()
      local c = connect()
      for _, room in ipairs { "x", "y", "z" } do call(c, "join", { room = room }) end
      assert.is_true(call(c, "leave_all").value)
      assert.same({}, call(c, "rooms").value)
      assert.equal(0, call(c, "room_count").value)
    end)
  end)

  describe("identity", function()
    it("has a user id once set_user() gives it one", function()
      local c = connect()
      assert.is_nil(call(c, "whoami").value.user_id)
      assert.is_true(call(c, "set_user", { user = "uma" }).value)
      assert.equal("uma", call(c, "whoami").value.user_id)
      assert.is_true(call(c, "set_user", {}).value)
      assert.is_nil(call(c, "whoami").value.user_id)
    end)

    it("knows its peer address and when it connected", function()
      local before = socket.gettime()
      local c = connect()
      local me = call(c, "whoami").value
      local ip, port = c.sock:getsockname()
      assert.equal(ip .. ":" .. port, me.remote_addr)
      assert.is_true(me.connected_at >= before - 1 and me.connected_at <= socket.gettime() + 1,
        "connected_at " .. tostring(me.connected_at) .. " is not the time of the connection")
    end)

    it("reads the upgrade request's headers, whatever their case", function()
      local c = connect { headers = { ["X-Api-Token"] = "s3cret", ["X-Empty"] = "" } }
      assert.equal("s3cret", call(c, "header", { name = "x-api-token" }).value)
      assert.equal("s3cret", call(c, "header", { name = "X-API-TOKEN" }).value)
      assert.equal("", call(c, "header", { name = "x-empty" }).value)
      assert.is_nil(call(c, "header", { name = "x-missing" }).value)
    end)

    it("reads the upgrade request's query parameters, decoded", function()
      local c = connect { query = { room = "lobby", name = "Zoë & co" } }
      assert.equal("lobby", call(c, "query", { name = "room" }).value)
      assert.equal("Zoë & co", call(c, "query", { name = "name" }).value)
      assert.is_nil(call(c, "query", { name = "missing" }).value)
    end)
  end)

  describe("metadata", function()
    it("keeps strings, numbers, booleans and nested tables", function()
      local c = connect()
      local values = {
        name = "Ada", age = 36, ratio = 0.25, admin = true, muted = false,
        profile = { langs = { "lua", "c" }, address = { city = "London" } },
      }
      for key, value in pairs(values) do
        assert.is_true(call(c, "set", { key = key, value = value }).value, key)
      end
      for key, value in pairs(values) do
        assert.same(value, call(c, "get", { key = key }).value, key)
      end
    end)

    it("overwrites a key, deletes it, and answers nil for a key never set", function()
      local c = connect()
      call(c, "set", { key = "color", value = "red" })
      call(c, "set", { key = "color", value = "blue" })
      assert.equal("blue", call(c, "get", { key = "color" }).value)
      assert.is_true(call(c, "del", { key = "color" }).value)
      assert.is_nil(call(c, "get", { key = "color" }).value)
      assert.is_nil(call(c, "get", { key = "never" }).value)
    end)

    it("keeps each connection's metadata apart", function()
      local a, b = connect(), connect()
      call(a, "set", { key = "who", value = "a" })
      call(b, "set", { key = "who", value = "b" })
      assert.equal("a", call(a, "get", { key = "who" }).value)
      assert.equal("b", call(b, "get", { key = "who" }).value)
    end)
  end)
end)
