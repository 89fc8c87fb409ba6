-- examples/metrics: the metrics middleware counts messages and errors by code, readable
-- at GET /stats, and Prometheus text at GET /metrics.
local cjson = require "cjson"
local t = require "luahub.testing"

describe("examples/metrics", function()
  local srv

  lazy_setup(function() srv = t.start(t.repo_root() .. "/examples/metrics/hub.lua") end)
  lazy_teardown(t.cleanup)

  local function stats()
    local status, _, body = srv:http("GET", "/stats")
    assert.equal(200, status, body)
    return cjson.decode(body)
  end

  it("counts every message and its errors by code", function()
    local before = stats()
    local c = assert(srv:connect())
    c:send_json { type = "join", room = "counted" }
    assert.equal("joined", c:receive_json().type)
    for i = 1, 5 do
      c:send_json { type = "say", room = "counted", text = "n" .. i }
      assert.equal("n" .. i, c:receive_json().text)
    end
    c:send("not json")
    assert.equal("bad_json", c:receive_json().code)
    c:send_json { type = "say", room = "elsewhere", text = "x" }
    assert.equal("not_in_room", c:receive_json().code)

    local after = stats()
    assert.equal(before.messages + 8, after.messages)
    local errors = after.errors or {}
    assert.equal(1, errors.bad_json)
    assert.equal(1, errors.not_in_room)
    assert.is_true(after.handler_seconds >= before.handler_seconds)
    assert.equal(1, after.clients)
    assert.equal(1, after.rooms)
  end)

  it("serves Prometheus text at GET /metrics", function()
    local status, headers, body = srv:http("GET", "/metrics")
    assert.equal(200, status)
    assert.matches("^text/plain", headers["content-type"])
    assert.truthy(body:find("# TYPE luahub_", 1, true), body)
  end)
end)
