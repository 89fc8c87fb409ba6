-- RFC 6455 section 5.4: fragmented messages, with control frames between fragments.
local t = require "luahub.testing"
local hubs = require "support.hubs"

describe("fragmented messages", function()
  local srv, c

  lazy_setup(function() srv = hubs.start_echo() end)
  lazy_teardown(t.cleanup)

  before_each(function() c = assert(srv:connect()) end)
  after_each(function() c:disconnect() end)

  -- The pong must come back while the message is still open: waiting for it
  -- before the next fragment proves control frames are handled mid-message.
  local function ping_and_wait_for_pong(payload)
    assert(c:ping(payload))
    local frame = assert(c:receive_frame(3))
    assert.equal(10, frame.opcode, "expected a pong, got opcode " .. frame.opcode)
    assert.equal(payload, frame.payload)
  end

  it("reassembles a text message sent in three fragments with pings between them", function()
    c:send_frame { fin = false, opcode = 1, payload = "Hello" }
    ping_and_wait_for_pong("between 1 and 2")
    c:send_frame { fin = false, opcode = 0, payload = ", fragmented " }
    ping_and_wait_for_pong("between 2 and 3")
    c:send_frame { fin = true, opcode = 0, payload = "world" }
    local data, kind = c:receive()
    assert.equal("text", kind)
    assert.equal("Hello, fragmented world", data)
  end)

  it("reassembles a binary message from fragments of 1, 0, 70000 and 125 bytes", function()
    local parts = { hubs.binary_payload(1), "", hubs.binary_payload(70000), hubs.binary_payload(125) }
    c:send_frame { fin = false, opcode = 2, payload = parts[1] }
    ping_and_wait_for_pong("p1")
    c:send_frame { fin = false, opcode = 0, payload = parts[2] }
    ping_and_wait_for_pong("")
    c:send_frame { fin = false, opcode = 0, payload = parts[3] }
    ping_and_wait_for_pong(hubs.binary_payload(125))
    c:send_frame { fin = true, opcode = 0, payload = parts[4] }
    local data, kind = c:receive()
    assert.equal("binary", kind)
    assert.is_true(data == table.concat(parts), "reassembled bytes differ")
  end)

  it("accepts a multi-byte UTF-8 character split across fragments", function()
    c:send_frame { fin = false, opcode = 1, payload = "caf\195" }
    c:send_frame { fin = false, opcode = 0, payload = "\169 \240\159" }
    c:send_frame { fin = true, opcode = 0, payload = "\152\128" }
    assert.equal("caf\195\169 \240\159\152\128", c:receive())
  end)

  it("answers every ping sent between fragments with a pong in order", function()
    c:send_frame { fin = false, opcode = 1, payload = "a" }
    c:ping("one")
    c:ping("two")
    c:send_frame { fin = false, opcode = 0, payload = "b" }
    c:ping("three")
    c:send_frame { fin = true, opcode = 0, payload = "c" }
    assert.equal("abc", c:receive())
    local pongs = {}
    for _, frame in ipairs(c.control) do
      if frame.opcode == 10 then pongs[#pongs + 1] = frame.payload end
    end
    -- A pong may be queued behind the echo; read on until all three are in.
    while #pongs < 3 do
      local frame, err = c:receive_frame(3)
      assert(frame, "missing pong: " .. tostring(err))
      if frame.opcode == 10 then pongs[#pongs + 1] = frame.payload end
    end
    assert.same({ "one", "two", "three" }, pongs)
  end)
end)
