-- watch = true: the running server reloads its script when the file changes.
local t = require "luahub.testing"

local function script(version)
  return ([[
local hub = require "luahub"
hub.config { watch = true }
hub.handle(function(client, msg) client:send("%s:" .. msg.data) end)
]]):format(version)
end

describe("watch = true", function()
  lazy_teardown(t.cleanup)

  it("reloads on a file change without dropping the connection, and ignores a broken save", function()
    local path = t.write_script(script("v1"))
    local srv = t.start(path)
    local c = assert(srv:connect())
    c:send("a")
    assert.equal("v1:a", c:receive())

    t.write_file(path, "local hub = require 'luahub'\nhub.handle(function( -- broken\n")
    assert(srv:wait_log("reload of .* failed", 5), srv:log())
    c:send("b")
    assert.equal("v1:b", c:receive())

    t.write_file(path, script("v2"))
    t.eventually(function()
      c:send("c")
      local answer = c:receive()
      return answer == "v2:c", answer
    end, { message = "the saved v2 never answered" })
  end)
end)
