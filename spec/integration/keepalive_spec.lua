-- Ping/pong: answering client pings, and the server's keepalive pings.
local socket = require "socket"
local t = require "luahub.testing"
local hubs = require "support.hubs"

describe("ping and pong", function()
  lazy_teardown(t.cleanup)

  describe("client pings", function()
    local srv
    lazy_setup(function() srv = hubs.start_echo() end)

    for _, payload in ipairs { "", "hello", string.rep("\255", 125) } do
      it(("are answered with a pong carrying the same %d-byte payload"):format(#payload), function()
        local c = assert(srv:connect())
        c:ping(payload)
        local frame = assert(c:receive_frame(3))
        assert.equal(10, frame.opcode)
        assert.is_true(frame.payload == payload, "pong payload differs from the ping's")
      end)
    end

    it("of 125 bytes are answered under a max_message_size below that (it bounds data messages)", function()
      local small = hubs.start_echo { max_message_size = 64 }
      local c = assert(small:connect())
      c:ping(string.rep("p", 125))
      local frame = assert(c:receive_frame(3))
      assert.equal(10, frame.opcode)
      assert.equal(125, #frame.payload)
      c:send(string.rep("d", 65))
      c:expect_close(1009, 3)
      small:stop()
    end)

    it("are ignored when unsolicited pongs arrive, and the connection goes on", function()
      local c = assert(srv:connect())
      c:send_frame { opcode = 10, payload = "unsolicited" }
      c:send("still here")
      assert.equal("still here", c:receive())
    end)
  end)

  describe("with ping_interval = 0.2 and pong_timeout = 0.5", function()
    local srv
    lazy_setup(function() srv = hubs.start_echo { ping_interval = 0.2, pong_timeout = 0.5 } end)

    local function ping_count(c)
      local n = 0
      for _, frame in ipairs(c.control) do
        if frame.opcode == 9 then n = n + 1 end
      end
      return n
    end

    it("the server pings every client", function()
      local c = assert(srv:connect())
      -- receive() answers the pings and records them in c.control
      t.eventually(function()
        local data, err = c:receive(0.05)
        assert.is_true(data ~= nil or err == "timeout", "connection ended: " .. tostring(err))
        return ping_count(c) >= 3, ping_count(c) .. " pings"
      end, { timeout = 3, interval = 0, message = "fewer than 3 pings" })
    end)

    it("drops a client that never answers after pong_timeout, and keeps one that answers", function()
      -- the server's pong deadline starts at the upgrade, so the clock starts before it
      local started = socket.gettime()
      local silent = assert(srv:connect())
      silent.auto_pong = false
      local answering = assert(srv:connect())
      local silent_pings, dropped_after = 0, nil
      -- Both are served in one loop with short reads so `answering` keeps answering its
      -- pings while we wait for `silent` to be dropped, and for at least 1.5 s (three
      -- pong timeouts) to see `answering` kept.
      t.eventually(function()
        if not dropped_after then
          local frame, err = silent:receive_frame(0.02)
          if frame and frame.opcode == 9 then
            silent_pings = silent_pings + 1
          elseif (frame and frame.opcode == 8) or err == "closed" then
            dropped_after = socket.gettime() - started
          end
        end
        local data, err = answering:receive(0.02)
        assert.is_true(data == nil and err == "timeout", "answering client: " .. tostring(data or err))
        return dropped_after and socket.gettime() - started >= 1.5
      end, { timeout = 4, interval = 0, message = "the silent client was not dropped within 4 s" })
      assert.is_true(silent_pings >= 1, "the silent client was dropped without ever being pinged")
      assert.is_true(dropped_after >= 0.5, ("dropped after %.2f s, before pong_timeout"):format(dropped_after))
      answering:send("alive")
      assert.equal("alive", answering:receive())
      assert.is_true(ping_count(answering) >= 3)
    end)
  end)
end)
