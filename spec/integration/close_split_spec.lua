-- A close frame whose bytes arrive in two reads: its reason's UTF-8 is judged on the
-- whole reason (wslay 1.1.1 alone would judge each chunk, skipping two bytes of each).
local t = require "luahub.testing"
local hubs = require "support.hubs"
local socket = require "socket"

-- Sends frame in two TCP writes, split inside the reason, with a pause between so the
-- server reads them apart (this shapes the input; it waits for no result).
local function send_split(c, frame, at)
  assert(c:send_raw(frame:sub(1, at)))
  socket.sleep(0.05)
  assert(c:send_raw(frame:sub(at + 1)))
end

describe("a close frame split across reads", function()
  lazy_teardown(t.cleanup)

  it("is echoed when its multi-byte reason is valid UTF-8", function()
    local srv = t.start(hubs.example("echo"))
    local c = assert(srv:connect())
    local reason = "fermé — 閉じる"
    local frame = t.encode_frame { opcode = 8, payload = t.close_payload(1000, reason) }
    -- split inside a multi-byte character of the reason
    send_split(c, frame, 6 + 2 + 5)
    local code, got = c:expect_close(1000)
    assert.equal(1000, code)
    assert.equal(reason, got)
  end)

  it("is refused with 1007 when its reason is not UTF-8", function()
    local srv = t.start(hubs.example("echo"))
    local c = assert(srv:connect())
    local frame = t.encode_frame { opcode = 8, payload = t.close_payload(1000, "abc\xc3\x28def") }
    send_split(c, frame, 6 + 2 + 4)
    assert.closed_with(1007, c)
  end)

  it("still echoes messages sent in the same read before it", function()
    local srv = t.start(hubs.example("echo"))
    local c = assert(srv:connect())
    local bytes = t.encode_frame { opcode = 1, payload = "before" }
      .. t.encode_frame { opcode = 8, payload = t.close_payload(1000, "bye") }
    assert(c:send_raw(bytes))
    assert.equal("before", c:receive())
    assert.closed_with(1000, c)
  end)
end)
