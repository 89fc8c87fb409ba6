-- The room protocol (luahub.protocol, docs/protocol.md) through real sockets with the
-- Lua protocol client: commands, pushes, recovery, races, RPC, expiring credentials.
local t = require "luahub.testing"
local P = require "luahub.testing.protocol"
local support = require "support.pubs"

local HUB = t.repo_root() .. "/spec/protocol/hub.lua"
local offsets, values, range, publish_n = support.offsets, support.values, support.range, support.publish_n

describe("the room protocol", function()
  local srv

  lazy_setup(function() srv = t.start(HUB, nil, { env = { HISTORY_SIZE = 20 } }) end)
  lazy_teardown(t.cleanup)

  local function connect(token) return assert(P.connect(srv, { token = token or "ok" })) end

  describe("connect", function()
    it("answers with the client id and the version", function()
      local c = connect()
      assert.equal(1, c.connect_result.version)
      assert.is_string(c.connect_result.client)
    end)

    it("refuses a bad token with unauthorized and closes with 4003", function()
      local c, code, _, conn = P.connect(srv, { token = "bad" })
      assert.is_nil(c)
      assert.equal("unauthorized", code)
      assert.equal(4003, conn.close_code or conn.ws:expect_close(4003))
    end)

    it("refuses another version with unsupported_version and closes with 4002", function()
      local c, code, _, conn = P.connect(srv, { token = "ok", version = 99 })
      assert.is_nil(c)
      assert.equal("unsupported_version", code)
      conn.ws:expect_close(4002)
    end)

    it("answers a command before connect with not_connected", function()
      local ws = assert(srv:connect())
      ws:send_json { op = "subscribe", id = 7, room = "open:x" }
      local reply = ws:receive_json()
      assert.same({ id = 7, error = { code = "not_connected", message = "send connect first" } }, reply)
    end)

    it("hands frames that are not commands to the script's own handler", function()
      local c = connect()
      c.ws:send("hello")
      assert.equal("raw: hello", c.ws:receive())
      c.ws:send_json { op = "dance", id = 3 }
      assert.equal("unknown_op", c.ws:receive_json().error.code)
    end)
  end)

  describe("rooms", function()
    it("pushes a publication with its room, position and data to every subscriber", function()
      local a, b = connect(), connect()
      assert(a:subscribe("open:news"))
      assert(b:subscribe("open:news"))
      local pos = assert(a:publish("open:news", { text = "hi" }))
      assert.is_string(pos.epoch)
      for _, c in ipairs { a, b } do
        local pub = c:wait_pubs("open:news", 1)[1]
        assert.same({ offset = pos.offset, epoch = pos.epoch, data = { text = "hi" } }, pub)
      end
    end)

    it("pushes a JSON string, number or array a client publishes as that value", function()
      local a = connect()
      assert(a:subscribe("open:values"))
      for _, value in ipairs { "hi", 'say "hi"', 42, { 1, "two" } } do
        assert(a:publish("open:values", value))
      end
      local got = {}
      for i, p in ipairs(a:wait_pubs("open:values", 4)) do got[i] = p.data end
      assert.same({ "hi", 'say "hi"', 42, { 1, "two" } }, got)
    end)

    it("stops pushing after unsubscribe, and says not_subscribed the second time", function()
      local a, b = connect(), connect()
      assert(a:subscribe("open:quiet"))
      assert(b:subscribe("open:quiet"))
      assert(a:unsubscribe("open:quiet"))
      local _, code = a:unsubscribe("open:quiet")
      assert.equal("not_subscribed", code)
      publish_n(b, "open:quiet", 1, 2)
      b:wait_pubs("open:quiet", 2)
      a:pump(0.2)
      assert.equal(0, #a.rooms["open:quiet"].pubs)
    end)

    it("refuses what the script refuses, with its codes", function()
      local c = connect()
      assert.same({ nil, "forbidden", "no access to vip:lounge" }, { c:subscribe("vip:lounge") })
      assert.equal("forbidden", select(2, c:publish("vip:lounge", { x = 1 })))
      assert.equal("forbidden", select(2, c:call { op = "presence", room = "vip:lounge" }))
      assert.equal("bad_request", select(2, c:call { op = "subscribe", room = "" }))
      assert(c:subscribe("open:twice"))
      assert.equal("already_subscribed", select(2, c:subscribe("open:twice")))
      local vip = connect("vip")
      assert(vip:subscribe("vip:lounge"))
    end)

    it("tells who is subscribed: presence and presence_stats", function()
      local a, b = connect(), connect("vip")
      assert(a:subscribe("open:who"))
      assert(b:subscribe("open:who"))
      local p = assert(a:call { op = "presence", room = "open:who" })
      assert.equal(2, #p.members)
      local users = { p.members[1].user, p.members[2].user }
      table.sort(users)
      assert.same({ "u", "vip" }, users)
      assert.same({ clients = 2, users = 2 }, assert(a:call { op = "presence_stats", room = "open:who" }))
    end)
  end)

  describe("recovery", function()
    it("replays nothing when nothing was missed", function()
      local a = connect()
      assert(a:subscribe("open:r0"))
      publish_n(a, "open:r0", 1, 3)
      a:wait_pubs("open:r0", 3)
      a:disconnect()
      assert(a:reconnect(srv))
      local r = a.rooms["open:r0"]
      assert.same({ 1, 2, 3 }, values(r.pubs))
      assert.is_nil(r.missed)
    end)

    it("replays what was missed, in order, exactly once", function()
      local a, b = connect(), connect()
      assert(a:subscribe("open:r1"))
      publish_n(b, "open:r1", 1, 3)
      a:wait_pubs("open:r1", 3)
      a:disconnect()
      publish_n(b, "open:r1", 4, 9)
      assert(a:reconnect(srv))
      local r = a.rooms["open:r1"]
      assert.same(range(1, 9), values(r.pubs))
      assert.same(range(1, 9), offsets(r.pubs))
      assert.is_nil(r.missed)
      publish_n(b, "open:r1", 10, 10)
      assert.same(range(1, 10), values(a:wait_pubs("open:r1", 10)))
    end)

    it("says unrecoverable when the gap is older than the history, and sends the recent ones asked for", function()
      local a, b = connect(), connect()
      assert(a:subscribe("open:r2"))
      publish_n(b, "open:r2", 1, 2)
      a:wait_pubs("open:r2", 2)
      a:disconnect()
      publish_n(b, "open:r2", 3, 40)              -- the history keeps 20
      local fresh = assert(P.connect(srv, { token = "ok" }))
      fresh.rooms = a.rooms
      local result = assert(fresh:subscribe("open:r2", { recent = 5 }))
      assert.is_false(result.recovered)
      assert.equal(1, fresh.rooms["open:r2"].missed)
      assert.same({ 1, 2, 36, 37, 38, 39, 40 }, values(fresh.rooms["open:r2"].pubs))
    end)

    it("keeps the position of a room with subscribers and no publication past the sweep", function()
      local a, gone = connect(), connect()
      assert(a:subscribe("open:unpublished"))
      local pos = { epoch = a.rooms["open:unpublished"].epoch, offset = a.rooms["open:unpublished"].offset }
      local function rooms_kept()
        local status, _, body = srv:http("GET", "/metrics", nil, nil, 2)
        assert.equal(200, status)
        return tonumber(body:match("\nluahub_history_rooms (%d+)"))
      end
      -- A room whose only subscriber left is freed by the once-a-second sweep: when it
      -- is gone, the sweep has run while "open:unpublished" had its subscriber.
      assert(gone:subscribe("open:left"))
      local before = rooms_kept()
      gone:disconnect()
      t.eventually(function() return rooms_kept() < before end, { timeout = 5, message = "the sweep freeing open:left" })
      a:disconnect()
      assert(a:reconnect(srv))
      local r = a.rooms["open:unpublished"]
      assert.is_nil(r.missed)
      assert.same(pos, { epoch = r.epoch, offset = r.offset })
    end)

    it("says unrecoverable after a restart (another epoch)", function()
      local own = t.start(HUB)
      local a = assert(P.connect(own, { token = "ok" }))
      assert(a:subscribe("open:r3"))
      publish_n(a, "open:r3", 1, 2)
      a:wait_pubs("open:r3", 2)
      local old_epoch = a.rooms["open:r3"].epoch
      own:stop()
      own = t.start(HUB, nil, { port = own.port })
      local b = assert(P.connect(own, { token = "ok" }))
      publish_n(b, "open:r3", 1, 1)
      assert(a:reconnect(own))
      local r = a.rooms["open:r3"]
      assert.equal(1, r.missed)
      assert.are_not.equal(old_epoch, r.epoch)
      publish_n(b, "open:r3", 2, 2)
      a:wait_pubs("open:r3", 3)
      assert.same({ 1, 2, 2 }, values(r.pubs))   -- the old stream's two, then the new one's second
    end)

    it("keeps order without duplicates when publications race resubscribes", function()
      local a = connect()
      assert(a:subscribe("open:race"))
      local N = 400
      assert(connect():rpc("burst", { room = "open:race", n = N }))
      for _ = 1, 8 do
        a:disconnect()
        assert(a:reconnect(srv))
      end
      local pubs = a:wait_pubs("open:race", N, 30)   -- a deadline: a loaded machine needs more than 5 s
      assert.same(range(1, N), values(pubs))
      assert.equal(0, a.rooms["open:race"].missed or 0)
    end)
  end)

  describe("rpc", function()
    it("answers with the function's result, its error code, or internal when it throws", function()
      local c = connect()
      assert.same({ a = { 1, 2 } }, c:rpc("echo", { a = { 1, 2 } }))
      assert.same({ nil, "nope", "refused on purpose" }, { c:rpc("refuse") })
      assert.equal("internal", select(2, c:rpc("throw")))
      assert.equal("unknown_method", select(2, c:rpc("missing")))
      assert.equal("late", c:rpc("slow", { seconds = 0.05 }))
      assert.truthy(srv:log():find("rpc throw failed", 1, true))
    end)
  end)

  describe("expiring credentials", function()
    it("asks for a fresh token before the expiry and keeps the connection when it is valid", function()
      local c = assert(P.connect(srv, { token_fn = function() return "ok-0.6" end }))
      assert.equal(0.6, c.connect_result.expires_in)
      c:pump_until(function(self) return self.refreshes >= 3 end, 5, "no third refresh")
      assert.is_nil(c.close_code)
      assert(c:subscribe("open:alive"))
    end)

    it("closes with 4001 when no fresh token comes", function()
      local c = assert(P.connect(srv, { token = "ok-0.3" }))
      c.ws:expect_close(4001, 3)
    end)

    it("closes with 4003 when the fresh token is refused", function()
      local tokens = { "ok-0.3", "bad" }
      local c = assert(P.connect(srv, { token_fn = function() return table.remove(tokens, 1) end }))
      c:pump_until(function(self) return self.closed end, 3, "the connection stayed open")
      assert.equal(4003, c.close_code)
    end)
  end)
end)
