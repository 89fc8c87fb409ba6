-- Messages of every length encoding come back intact, as text or binary.
local t = require "luahub.testing"
local hubs = require "support.hubs"

describe("echoing messages", function()
  local srv, c

  lazy_setup(function()
    srv = hubs.start_echo { max_message_size = 1048576 }
  end)
  lazy_teardown(t.cleanup)

  before_each(function() c = assert(srv:connect()) end)
  after_each(function() c:disconnect() end)

  -- 125/126 and 65535/65536 sit on both sides of the 7-, 16- and 64-bit length
  -- encodings; 1048576 is exactly max_message_size, which must still be accepted.
  local payloads = { text = hubs.text_payload, binary = hubs.binary_payload }
  for _, size in ipairs { 0, 125, 126, 65535, 65536, 1048576 } do
    for _, kind in ipairs { "text", "binary" } do
      it(("echoes a %d-byte %s message as %s"):format(size, kind, kind), function()
        local payload = payloads[kind](size)
        assert(c:send_frame { opcode = kind == "text" and 1 or 2, payload = payload })
        local data, received_kind = c:receive(10)
        assert.equal(kind, received_kind, tostring(data))
        assert.equal(size, #data)
        assert.is_true(data == payload, "echoed payload differs from what was sent")
      end)
    end
  end

  it("echoes text with 2-, 3- and 4-byte UTF-8 characters unchanged", function()
    local text = "caf\195\169 \226\130\172 \240\159\152\128 \239\187\191 \244\143\191\191"
    c:send(text)
    assert.equal(text, c:receive())
  end)

  it("keeps message boundaries and order for many small messages sent back to back", function()
    local batch = {}
    for i = 1, 200 do batch[#batch + 1] = t.encode_frame { opcode = 1, payload = "message " .. i } end
    assert(c:send_raw(table.concat(batch)))
    for i = 1, 200 do
      assert.equal("message " .. i, c:receive())
    end
  end)

  it("accepts a frame split across many TCP writes", function()
    local frame = t.encode_frame { opcode = 1, payload = "split into single bytes" }
    for i = 1, #frame do
      assert(c:send_raw(frame:sub(i, i)))
    end
    assert.equal("split into single bytes", c:receive())
  end)
end)
