-- Defects an attacker (or an unlucky script) found, each pinned by the story that showed
-- it: oversized response heads, ambiguous handshakes, scripts that register nothing,
-- log floods from throwing handlers, and the logger middleware's clock.
local t = require "luahub.testing"

describe("an HTTP route answering with large headers", function()
  local srv

  lazy_setup(function()
    srv = t.start(t.write_script [[
local hub = require "luahub"
hub.route("GET", "/big", function()
  return 200, "big head", { ["X-Big"] = string.rep("b", 2000) }
end)
hub.route("GET", "/many", function()
  local headers = {}
  for i = 1, 40 do headers["X-Header-" .. i] = string.rep("m", 40) end
  return 200, "many headers", headers
end)
hub.route("GET", "/huge", function()
  return 200, "huge head", { ["X-Huge"] = string.rep("h", 60000) }
end)
]])
  end)
  lazy_teardown(t.cleanup)

  it("is answered with the route's status, headers and body, not 404", function()
    local status, headers, body = srv:http("GET", "/big")
    assert.equal(200, status)
    assert.equal("big head", body)
    assert.equal(string.rep("b", 2000), headers["x-big"])

    status, headers, body = srv:http("GET", "/many")
    assert.equal(200, status)
    assert.equal("many headers", body)
    for i = 1, 40 do assert.equal(string.rep("m", 40), headers["x-header-" .. i]) end

    status, headers, body = srv:http("GET", "/huge")
    assert.equal(200, status)
    assert.equal("huge head", body)
    assert.equal(60000, #headers["x-huge"])
  end)
end)
