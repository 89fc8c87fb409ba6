-- One handler call's broadcasts are one loop pass's: after the first reaches every member,
-- the next ones to the same room are held and queued to each member in one go
-- (core/fanout_batch.c). What each client reads, and what each send returns, must be what
-- sending them one by one gives: a direct send, a leave and a broadcast to another group
-- between them keep their place.
local t = require "luahub.testing"

local HUB = [[
local hub = require "luahub"
hub.handle(function(client, msg)
  if msg.data == "join" then client:join("r") client:send("joined") return end
  if msg.data ~= "go" then return end
  local counts = {}
  local function note(n) counts[#counts + 1] = n end
  note(hub.to_room("r", "r1"))
  note(hub.to_room("r", "r2"))
  client:send("direct")
  note(hub.to_room("r", "r3"))
  client:leave("r")
  note(hub.to_room("r", "r4"))
  note(hub.broadcast("b5"))
  note(hub.to_room("r", "r6"))
  note(hub.to_room("r", "r7"))
  client:send(table.concat(counts, ","))
end)
]]

local function read_all(c, n)
  local got = {}
  for i = 1, n do got[i] = assert(c:receive()) end
  return got
end

describe("broadcasts within one pass", function()
  lazy_teardown(t.cleanup)

  it("reach each client in the order sent, around a direct send, a leave and another group", function()
    local srv = t.start(t.write_script(HUB))
    local a, b, c = assert(srv:connect()), assert(srv:connect()), assert(srv:connect())
    for _, x in ipairs { a, b, c } do
      x:send("join")
      assert.equal("joined", x:receive())
    end
    a:send("go")
    assert.same({ "r1", "r2", "direct", "r3", "b5", "3,3,3,2,3,2,2" }, read_all(a, 6))
    for _, x in ipairs { b, c } do
      assert.same({ "r1", "r2", "r3", "r4", "b5", "r6", "r7" }, read_all(x, 7))
    end
  end)

  -- A connection dropped without a close frame is destroyed by the pass's flush, which
  -- runs its close hooks: their broadcasts must be written in that pass too, not held
  -- until some later event wakes the loop (nothing else happens here).
  it("are written in the same pass when a close hook the flush runs sends them", function()
    local srv = t.start(t.write_script([[
local hub = require "luahub"
hub.on("after_disconnect", function()
  hub.broadcast("left 1")
  hub.broadcast("left 2")
end)
hub.handle(function(client, msg) client:send(msg.data) end)
]]))
    local stay, go = assert(srv:connect()), assert(srv:connect())
    go:send("ping")
    assert.equal("ping", go:receive())
    go:disconnect()
    local first = stay:receive(2)
    local second = stay:receive(2)
    assert.same({ "left 1", "left 2" }, { first, second })
  end)
end)
