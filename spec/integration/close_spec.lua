-- RFC 6455 sections 5.5.1 and 7.4: the closing handshake and close codes.
local t = require "luahub.testing"

local SCRIPT = [[
local hub = require "luahub"
hub.handle(function(client, msg)
  local code, reason = msg.data:match("^close (%d+) ?(.*)$")
  if code then
    client:close(tonumber(code), reason)
  else
    client:send(msg.data)
  end
end)
]]

describe("the closing handshake", function()
  local srv, c

  lazy_setup(function() srv = t.start(t.write_script(SCRIPT)) end)
  lazy_teardown(t.cleanup)

  before_each(function() c = assert(srv:connect()) end)
  after_each(function() c:disconnect() end)

  it("answers a client close 1000 with close 1000 and then closes TCP", function()
    c:close(1000, "bye")
    local code = c:expect_close(1000)
    assert.equal(1000, code)
    assert.is_true(c:wait_tcp_close(3), "server kept the TCP connection open after the close handshake")
  end)

  it("answers a close frame with an empty payload with a close frame", function()
    c:close()
    local frame = assert(c:receive_frame(3))
    assert.equal(8, frame.opcode)
    assert.is_true(#frame.payload == 0 or frame.payload == t.close_payload(1000),
      "expected an empty close or 1000, got payload of " .. #frame.payload .. " bytes")
    assert.is_true(c:wait_tcp_close(3))
  end)

  for _, code in ipairs { 1000, 1001, 3000, 4999 } do
    it(("echoes the valid close code %d"):format(code), function()
      c:close(code, "reason " .. code)
      assert.closed_with(code, c)
    end)
  end

  -- 0-999 are unused, 1004-1006 and 1015 are reserved or never sent on the wire,
  -- 1016-2999 are reserved for future protocol use, 5000+ do not exist.
  for _, code in ipairs { 0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535 } do
    it(("answers the invalid close code %d with 1002"):format(code), function()
      c:close(code)
      c:expect_close(1002)
    end)
  end

  it("answers a close frame with a 1-byte payload with 1002", function()
    c:send_frame { opcode = 8, payload = "\3" }
    c:expect_close(1002)
  end)

  it("delivers the code and reason a script passes to client:close", function()
    c:send("close 4001 as you wish")
    local code, reason = c:expect_close(4001)
    assert.equal(4001, code)
    assert.equal("as you wish", reason)
    assert.is_true(c:wait_tcp_close(3))
  end)

  it("sends no data frame after its close frame", function()
    c:send("close 4002")
    c:send("too late")
    local frame = assert(c:receive_frame(3))
    assert.equal(8, frame.opcode, "expected the close frame first")
    c:close(4002)
    local after, err = c:receive_frame(3)
    assert.is_nil(after, "server sent opcode " .. tostring(after and after.opcode) .. " after closing")
    assert.equal("closed", err)
  end)
end)
