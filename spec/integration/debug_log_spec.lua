-- log.level = "debug" shows a client's life: connect, room joins and leaves, close.
local t = require "luahub.testing"

local SCRIPT = [[
local hub = require "luahub"
hub.handle(function(client, msg)
  if msg.data == "join" then client:join("lobby") else client:leave("lobby") end
  client:send("done")
end)
]]

describe("the debug log", function()
  lazy_teardown(t.cleanup)

  it("has a line for each connect, join, leave and close", function()
    local srv = t.start(t.write_script(SCRIPT), nil, { args = { "--log-level", "debug" } })
    local c = assert(srv:connect())
    c:send("join"); assert.equal("done", c:receive())
    c:send("leave"); assert.equal("done", c:receive())
    c:close(4001, "bye")
    local close = assert(srv:wait_log("client=(%d+) closed: 4001 bye"), srv:log())
    for _, line in ipairs { "connected from 127%.0%.0%.1:%d+", "joined room lobby", "left room lobby" } do
      assert.truthy(srv:log():find("client=" .. close .. " " .. line), line .. "\n" .. srv:log())
    end
  end)

  it("has none of them above debug", function()
    local srv = t.start(t.write_script(SCRIPT))
    local c = assert(srv:connect())
    c:send("join"); assert.equal("done", c:receive())
    c:close(1000)
    c:expect_close(1000)   -- the server answered the close: it has seen it
    assert.is_nil(srv:log():find("joined room", 1, true))
    assert.is_nil(srv:log():find("connected from", 1, true))
  end)
end)
