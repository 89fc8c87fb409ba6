-- What one client can do to everyone else: each case here was found by attacking the
-- server, and each fails on the code before its fix.
local t = require "luahub.testing"
local hubs = require "support.hubs"

describe("a client flooding pings without reading the pongs", function()
  lazy_teardown(t.cleanup)

  it("is dropped, and every other client's pings are still answered", function()
    local srv = hubs.start_echo()
    local flooder = assert(srv:connect())
    flooder.auto_pong = false
    -- 100,000 pings of 125 bytes: 12.7 MB of pongs the flooder never reads
    local ping = t.encode_frame { opcode = 9, payload = string.rep("p", 125) }
    local burst = string.rep(ping, 1000)
    for _ = 1, 100 do
      if not flooder:send_raw(burst, 10) then break end   -- dropped mid-flood
    end
    assert.truthy(flooder:wait_tcp_close(10), "the flooder was not dropped")
    -- the wslay contexts that served the flood are not reused in a broken state: every
    -- later client, whichever pooled context it gets, has its pings answered
    for i = 1, 8 do
      local c = assert(srv:connect())
      c:ping("after " .. i)
      local frame = assert(c:receive_frame(3))
      assert.equal(10, frame.opcode)
      assert.equal("after " .. i, frame.payload)
      c:send("still " .. i)
      assert.equal("still " .. i, c:receive(3))
    end
    srv:stop()
  end)
end)

describe("a protocol error right behind a valid message", function()
  lazy_teardown(t.cleanup)

  it("closes with 1002 after the valid message's reply, which is not lost", function()
    local srv = hubs.start_echo()
    local c = assert(srv:connect())
    -- one write: a text message, then a frame with the reserved opcode 3
    c:send_raw(t.encode_frame { opcode = 1, payload = "answer me" } .. t.encode_frame { opcode = 3, payload = "x" })
    assert.equal("answer me", c:receive(3))
    c:expect_close(1002, 3)
    srv:stop()
  end)

  it("closes with 1007 after the reply to the message before the bad UTF-8", function()
    local srv = hubs.start_echo()
    local c = assert(srv:connect())
    c:send_raw(t.encode_frame { opcode = 1, payload = "first" } .. t.encode_frame { opcode = 1, payload = "\255\254" })
    assert.equal("first", c:receive(3))
    c:expect_close(1007, 3)
    srv:stop()
  end)
end)
