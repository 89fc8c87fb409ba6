-- What the server does with frames that break RFC 6455: close codes 1007
-- (invalid UTF-8), 1009 (too big) and 1002 (protocol error).
local t = require "luahub.testing"
local hubs = require "support.hubs"

local LIMIT = 1024

describe("protocol errors", function()
  local srv, c

  lazy_setup(function() srv = hubs.start_echo { max_message_size = LIMIT } end)
  lazy_teardown(t.cleanup)

  before_each(function() c = assert(srv:connect()) end)
  after_each(function() c:disconnect() end)

  describe("invalid UTF-8", function()
    local invalid = {
      { "a lone 0xFF byte", "ok \255 ok" },
      { "a lead byte followed by ASCII", "\195\040" },
      { "an overlong encoding of '/'", "\192\175" },
      { "a UTF-16 surrogate (U+D800)", "\237\160\128" },
      { "a code point above U+10FFFF", "\244\144\128\128" },
      { "a sequence cut off at the end of the message", "euro \226\130" },
    }
    for _, case in ipairs(invalid) do
      it("closes with 1007 on a text frame containing " .. case[1], function()
        c:send(case[2])
        c:expect_close(1007)
      end)
    end

    it("closes with 1007 as soon as the first fragment of a text message is invalid", function()
      c:send_frame { fin = false, opcode = 1, payload = "valid start \255 invalid" }
      c:expect_close(1007)
    end)

    it("closes with 1007 when a fragmented text message ends inside a character", function()
      c:send_frame { fin = false, opcode = 1, payload = "a\240\159" }
      c:send_frame { fin = true, opcode = 0, payload = "\152" }
      c:expect_close(1007)
    end)

    it("closes with 1007 when a close frame's reason is not UTF-8", function()
      c:close(1000, "bad \255\254 reason")
      c:expect_close(1007)
    end)

    it("echoes a binary message with the same bytes (binary is never validated)", function()
      c:send_binary("ok \255 ok")
      assert.equal("ok \255 ok", c:receive())
    end)
  end)

  describe(("max_message_size = %d"):format(LIMIT), function()
    it("accepts a message of exactly the limit", function()
      local payload = hubs.text_payload(LIMIT)
      c:send(payload)
      assert.equal(payload, c:receive())
    end)

    it("closes with 1009 on a single frame one byte over the limit", function()
      c:send(hubs.text_payload(LIMIT + 1))
      c:expect_close(1009)
    end)

    it("closes with 1009 on a fragmented message whose total is over the limit", function()
      c:send_frame { fin = false, opcode = 2, payload = hubs.binary_payload(400) }
      c:send_frame { fin = false, opcode = 0, payload = hubs.binary_payload(400) }
      c:send_frame { fin = true, opcode = 0, payload = hubs.binary_payload(400) }
      c:expect_close(1009)
    end)

    it("closes with 1009 on a frame header announcing 4 GiB without waiting for the payload", function()
      local header = string.char(0x82, 0xFF) .. "\0\0\0\1\0\0\0\0" .. t.random_bytes(4)
      c:send_raw(header .. string.rep("x", 2048))
      c:expect_close(1009)
    end)
  end)

  describe("framing", function()
    it("closes with 1002 on an unmasked client frame", function()
      c:send_frame { opcode = 1, payload = "not masked", mask = false }
      c:expect_close(1002)
    end)

    for _, rsv in ipairs { 4, 2, 1 } do
      it(("closes with 1002 on a frame with RSV%d set and no extension negotiated"):format(
        ({ [4] = 1, [2] = 2, [1] = 3 })[rsv]), function()
        c:send_frame { opcode = 1, payload = "rsv", rsv = rsv }
        c:expect_close(1002)
      end)
    end

    for _, opcode in ipairs { 3, 7, 11, 15 } do
      it(("closes with 1002 on the reserved opcode %d"):format(opcode), function()
        c:send_frame { opcode = opcode, payload = "?" }
        c:expect_close(1002)
      end)
    end

    it("closes with 1002 on a continuation frame when no message was started", function()
      c:send_frame { fin = true, opcode = 0, payload = "orphan" }
      c:expect_close(1002)
    end)

    it("closes with 1002 on a new text frame while a fragmented message is open", function()
      c:send_frame { fin = false, opcode = 1, payload = "first half" }
      c:send_frame { fin = true, opcode = 1, payload = "interloper" }
      c:expect_close(1002)
    end)

    it("closes with 1002 on a new binary frame while a fragmented message is open", function()
      c:send_frame { fin = false, opcode = 2, payload = "first half" }
      c:send_frame { fin = false, opcode = 2, payload = "interloper" }
      c:expect_close(1002)
    end)

    -- RFC 6455 5.5: control frames carry at most 125 bytes and are never fragmented.
    -- Failing the connection may be a close 1002 or a plain TCP close.
    local function assert_failed_connection()
      local how, code = c:wait_closed(3)
      assert.is_not_nil(how, "the connection stayed open")
      if how == "close_frame" then assert.equal(1002, code) end
    end

    it("fails the connection on a ping with a 126-byte payload", function()
      c:send_frame { opcode = 9, payload = string.rep("p", 126) }
      assert_failed_connection()
    end)

    it("fails the connection on a fragmented ping", function()
      c:send_frame { fin = false, opcode = 9, payload = "half a ping" }
      assert_failed_connection()
    end)

    it("fails the connection on a close frame with a 126-byte payload", function()
      c:send_frame { opcode = 8, payload = t.close_payload(1000, string.rep("r", 124)) }
      assert_failed_connection()
    end)
  end)
end)
