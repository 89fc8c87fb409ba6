-- The JSON senders through real clients: every one writes what a browser expects (empty
-- arrays, null, "/" unescaped) through the one encode path.
local t = require "luahub.testing"

local SCRIPT = [[
local hub = require "luahub"
local json = hub.json
local VALUE = { list = json.empty_array, none = json.null, url = "https://example.org/a/b" }
hub.config { origins = "*", api_key = "k" }
hub.on("after_connect", function(client)
  client:set_user(client:query("user"))
  client:join("room")
end)
local router = hub.router("type")
router:on("send", function(c) return c:send_json(VALUE) end)
router:on("id", function(c) return c:send_json { id = c.id } end)
router:on("broadcast", function() return hub.broadcast_json(VALUE) end)
router:on("room", function(c) return hub.to_room_json("room", VALUE, { except = c }) end)
router:on("user", function() return hub.to_user_json("ann", VALUE) end)
router:on("client", function(c, msg) return hub.to_client_json(msg:json().to, VALUE) end)
router:on("bad", function(c)
  local ok, err, detail = hub.to_room_json("room", { f = print })
  return c:send_json { ok = ok or json.null, err = err, detail = detail ~= nil }
end)
hub.handle(router)
hub.route("GET", "/value", function() return 200, VALUE end)
]]

local EXPECTED = '"list":[]'

local function assert_browser_json(text)
  assert.truthy(text:find(EXPECTED, 1, true), text)
  assert.truthy(text:find('"none":null', 1, true), text)
  assert.truthy(text:find('"url":"https://example.org/a/b"', 1, true), text)
end

describe("the JSON senders", function()
  local srv, ann, bob

  lazy_setup(function()
    srv = t.start(t.write_script(SCRIPT))
    ann = assert(srv:connect { query = { user = "ann" } })
    bob = assert(srv:connect { query = { user = "bob" } })
  end)
  lazy_teardown(t.cleanup)

  it("client:send_json", function()
    ann:send_json { type = "send" }
    assert_browser_json(assert(ann:receive()))
  end)

  it("hub.broadcast_json", function()
    ann:send_json { type = "broadcast" }
    assert_browser_json(assert(ann:receive()))
    assert_browser_json(assert(bob:receive()))
  end)

  it("hub.to_room_json, with except", function()
    ann:send_json { type = "room" }
    assert_browser_json(assert(bob:receive()))
    assert.same({ nil, "timeout" }, { ann:receive(0.2) })
  end)

  it("hub.to_user_json", function()
    bob:send_json { type = "user" }
    assert_browser_json(assert(ann:receive()))
    assert.same({ nil, "timeout" }, { bob:receive(0.2) })
  end)

  it("hub.to_client_json", function()
    bob:send_json { type = "id" }
    local bob_id = assert(bob:receive_json()).id
    ann:send_json { type = "client", to = bob_id }
    assert_browser_json(assert(bob:receive()))
    assert.same({ nil, "timeout" }, { ann:receive(0.2) })
  end)

  it("return nil, bad_json, detail for a value JSON cannot hold", function()
    ann:send_json { type = "bad" }
    assert.same({ ok = require("cjson").null, err = "bad_json", detail = true }, require("cjson").decode((assert(ann:receive()))))
  end)

  it("the publish API's JSON data", function()
    local status = srv:http("POST", "/api/publish", { Authorization = "Bearer k" },
      '{"broadcast": true, "data": {"url": "https://example.org/a/b"}}')
    assert.equal(200, status)
    assert.equal('{"url":"https://example.org/a/b"}', (ann:receive()))
    assert.equal('{"url":"https://example.org/a/b"}', (bob:receive()))
  end)

  it("an HTTP route's table body", function()
    local status, headers, body = srv:http("GET", "/value")
    assert.equal(200, status)
    assert.equal("application/json", headers["content-type"])
    assert_browser_json(body)
  end)
end)
