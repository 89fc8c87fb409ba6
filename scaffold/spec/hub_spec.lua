-- hub.lua against a real luahub server on a free loopback port. luahub.testing finds the
-- server binary in $LUAHUB_BIN, else `luahub` on PATH; servers stop with t.cleanup(),
-- or when this process ends however it ends.
local t = require "luahub.testing"

describe("hub.lua", function()
  local srv
  lazy_setup(function() srv = t.start("hub.lua") end)
  lazy_teardown(t.cleanup)

  -- A client past its welcome.
  local function connect()
    local c = assert(srv:connect())
    c:expect_json("welcome")
    return c
  end

  it("welcomes a client into the lobby", function()
    local c = assert(srv:connect())
    local welcome = c:expect_json("welcome")
    assert.equal("lobby", welcome.room)
  end)

  it("relays what a client says to the others in its room, not back to it", function()
    local ann, bob = connect(), connect()
    ann:send_json { type = "say", text = "hi" }
    assert.equal("hi", bob:expect_json("said").text)
    ann:expect_silence(0.2)
  end)

  it("keeps rooms apart", function()
    local ann, bob = connect(), connect()
    bob:send_json { type = "join", room = "kitchen" }
    bob:expect_json("joined")
    ann:send_json { type = "say", text = "anyone?" }
    bob:expect_silence(0.2)
  end)

  it("answers a frame it does not understand with an error", function()
    local c = connect()
    c:send_json { type = "dance" }
    assert.matches("unknown type", c:expect_json("error").error)
    c:send("not json")
    c:expect_json("error")
  end)
end)
