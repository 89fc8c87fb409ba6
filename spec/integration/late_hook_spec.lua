-- A before_connect hook added while the server runs is asked from the next upgrade on:
-- the core builds no request table while the script has no such hook, and hub.on tells
-- it when one arrives.
local t = require "luahub.testing"
local hubs = require "support.hubs"

local SCRIPT = [[
local hub = require "luahub"
hub.handle(function(client, msg)
  if msg.data == "arm" then
    hub.on("before_connect", function(req)
      if req.headers["x-pass"] ~= "yes" then return false, 403, "armed" end
    end)
    client:send("armed")
  end
end)
]]

describe("a before_connect hook added at run time", function()
  local srv

  lazy_setup(function() srv = t.start(t.write_script(SCRIPT)) end)
  lazy_teardown(t.cleanup)

  it("is asked from the next upgrade on", function()
    local first = assert(srv:connect())
    first:send("arm")
    assert.equal("armed", first:receive())
    local _, _, body = hubs.assert_refused(srv, {}, 403)
    assert.truthy(body:find("armed", 1, true), body)
    assert(srv:connect { headers = { ["X-Pass"] = "yes" } }, "the hook refused a request it lets in")
  end)
end)
