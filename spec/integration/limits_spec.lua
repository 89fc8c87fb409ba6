-- hub.config limits: connections, per_user, rooms_per_client, clients_per_room and
-- message_rate, each hit through real sockets (spec/support/api_hub.lua drives the API).
local cjson = require "cjson"
local socket = require "socket"
local api = require "support.api_hub"
local hubs = require "support.hubs"
local observe = require "support.observe"
local t = require "luahub.testing"

local call = api.call

describe("limits", function()
  lazy_teardown(t.cleanup)

  describe("rooms_per_client = 2", function()
    it("answers max_rooms to a third join, and allows it again after a leave", function()
      local srv = api.start { limits = { rooms_per_client = 2 } }
      local c = assert(srv:connect())
      assert.is_true(call(c, "join", { room = "one" }).value)
      assert.is_true(call(c, "join", { room = "two" }).value)
      local reply = call(c, "join", { room = "three" })
      assert.is_nil(reply.value)
      assert.equal("max_rooms", reply.err)
      assert.is_false(call(c, "room_exists", { room = "three" }).value)
      call(c, "leave", { room = "one" })
      assert.is_true(call(c, "join", { room = "three" }).value)
      srv:stop()
    end)
  end)

  describe("clients_per_room = 2", function()
    it("answers room_full to a third member, while other rooms stay open", function()
      local srv = api.start { limits = { clients_per_room = 2 } }
      local a, b, c = assert(srv:connect()), assert(srv:connect()), assert(srv:connect())
      assert.is_true(call(a, "join", { room = "small" }).value)
      assert.is_true(call(b, "join", { room = "small" }).value)
      local reply = call(c, "join", { room = "small" })
      assert.is_nil(reply.value)
      assert.equal("room_full", reply.err)
      assert.is_false(call(c, "in_room", { room = "small" }).value)
      assert.is_true(call(c, "join", { room = "other" }).value)
      srv:stop()
    end)
  end)

  describe("per_user = 1", function()
    local srv

    before_each(function() srv = api.start { limits = { per_user = 1 } } end)
    after_each(function() srv:stop() end)

    it("refuses a second connection for the same user with 429, and takes one again once the first left", function()
      local first = assert(srv:connect { query = { user = "dave" } })
      local _, _, body = hubs.assert_refused(srv, { query = { user = "dave" } }, 429)
      assert.truthy(body:find("too many connections for this user", 1, true), body)
      assert.truthy(srv:connect { query = { user = "erin" } }, "another user was refused")
      first:close(1000)
      first:expect_close(1000)
      t.eventually(function() return srv:connect { query = { user = "dave" } } end,
                   { message = "the user's slot was not freed when the first connection left" })
    end)

    it("answers user_limit when set_user would exceed it", function()
      assert(srv:connect { query = { user = "dave" } })
      local c = assert(srv:connect())
      local reply = call(c, "set_user", { user = "dave" })
      assert.is_nil(reply.value)
      assert.equal("user_limit", reply.err)
      assert.is_nil(call(c, "whoami").value.user_id)
    end)

    it("does not let a request refused by a later before_connect hook hold the user's slot", function()
      -- The refused request's socket stays open, so the server still holds the connection.
      local refused = socket.tcp()
      refused:settimeout(5)
      assert(refused:connect(srv.host, srv.port))
      assert(refused:send(table.concat({
        "GET /ws?user=dave&deny=1 HTTP/1.1", "Host: " .. srv.host .. ":" .. srv.port,
        "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: " .. t.base64(t.random_bytes(16)), "", "" }, "\r\n")))
      assert.equal("HTTP/1.1 403 Forbidden", refused:receive("*l"))
      assert.truthy(srv:connect { query = { user = "dave" } }, "the refused request kept dave's slot")
      refused:close()
    end)
  end)

  describe("connections = 2", function()
    it("refuses a third upgrade with 503 and Retry-After, and accepts again once one left", function()
      local srv = api.start { limits = { connections = 2 } }
      local a = assert(srv:connect())
      assert(srv:connect())
      local _, headers = hubs.assert_refused(srv, {}, 503)
      assert.truthy(tonumber(headers["retry-after"]), "no Retry-After header")
      a:close(1000)
      a:expect_close(1000)
      t.eventually(function() return srv:connect() end,
                   { message = "no room for a new connection after one left" })
      srv:stop()
    end)
  end)

  describe("message_rate = 2", function()
    it("drops what exceeds the token bucket; after_message sees rate_limited", function()
      local srv = api.start { limits = { message_rate = 2 } }
      local c = assert(srv:connect())
      local burst = {}
      for tag = 1, 5 do burst[tag] = t.encode_frame { opcode = 1, payload = cjson.encode { op = "whoami", tag = tag } } end
      assert(c:send_raw(table.concat(burst)))
      assert.equal(1, c:receive_json().tag)
      assert.equal(2, c:receive_json().tag)
      -- Once the bucket refills, a marker gets through; nothing of the burst came before it.
      local reply = t.eventually(function()
        c:send_json { op = "whoami", tag = "marker" }
        return c:receive_json(0.2)
      end, { message = "the marker never got through" })
      assert.equal("marker", reply.tag)
      local id = reply.value.id
      local failures = observe.get_json(srv, "/failures")
      local limited = 0
      for _, f in ipairs(failures) do
        if f.client == id then
          assert.equal("rate_limited", f.err)
          limited = limited + 1
        end
      end
      assert.is_true(limited >= 3, "after_message saw " .. limited .. " rate_limited messages, expected 3 or more")
      srv:stop()
    end)
  end)
end)
