-- A message to a room is encoded once; each member's queue takes a reference in a ring
-- that is already allocated, so a fan-out to many members allocates one frame, not one
-- thing per recipient. Measured with the C heap's bytes in use around the call.
local t = require "luahub.testing"

local HUB = [[
local hub = require "luahub"
local C = require "luahub.ffi"
local payload = string.rep("z", 200)
hub.handle(function(client, msg)
  if msg.data == "join" then client:join("big") client:send("joined") return end
  if msg.data == "warm" then hub.to_room("big", payload) return end
  local before = C.lh_heap_bytes()
  local n = hub.to_room("big", payload)
  local grown = tonumber(C.lh_heap_bytes() - before)
  client:send(("%d %d"):format(n, grown))
end)
]]

describe("fan-out to a room", function()
  lazy_teardown(t.cleanup)

  it("allocates one frame for 1000 recipients, nothing per recipient", function()
    local srv = t.start(t.write_script(HUB), { send_queue = { messages = 64 } })
    local members = {}
    for i = 1, 1000 do
      members[i] = assert(srv:connect())
      members[i]:send("join")
    end
    for i = 1, 1000 do assert.equal("joined", members[i]:receive()) end
    -- a first fan-out gives every member its (reused) queue ring
    members[1]:send("warm")
    for i = 1, 1000 do assert.equal(200, #members[i]:receive()) end
    members[1]:send("measure")
    local answer
    for _ = 1, 2 do                              -- the room message and the answer
      local m = assert(members[1]:receive())
      if m:match("^%d+ %-?%d+$") then answer = m end
    end
    local n, grown = answer:match("^(%d+) (%-?%d+)$")
    assert.equal(1000, tonumber(n))
    -- one frame: 200 bytes of payload + header + allocator overhead
    assert.is_true(tonumber(grown) < 512, ("heap grew by %s bytes for 1000 recipients"):format(grown))
  end)
end)
