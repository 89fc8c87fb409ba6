-- The admin page's server side (docs/operations.md, "Admin page"): served only with an
-- api_key; tickets need the key and open one admin socket each; an admin socket gets a
-- snapshot at once and every second, and the script, rooms and fan-outs never see it.
local t = require "luahub.testing"
local cjson = require "cjson"

local KEY = "admin-spec-key"
local HUB = [[
local hub = require "luahub"
local opened = 0
hub.on("after_connect", function(c) opened = opened + 1; c:join("lobby") end)
hub.handle(function(c, msg)
  if msg.data == "opened" then return c:send(tostring(opened)) end
  hub.to_room("lobby", msg)
end)
]]

local function ticket(srv, key)
  local status, _, body = srv:http("POST", "/api/admin/ticket", key and { Authorization = "Bearer " .. key })
  return status, status == 200 and cjson.decode(body) or body
end

describe("the admin page without an api_key", function()
  lazy_teardown(t.cleanup)

  it("is not there, and no ticket opens an admin socket", function()
    local srv = t.start(t.write_script(HUB))
    assert.equal(404, (srv:http("GET", "/admin/")))
    local c, err, status = srv:connect { query = { luahub_admin = ("0"):rep(64) } }
    assert.is_nil(c)
    assert.equal("http", err)
    assert.equal(401, status)
  end)
end)

describe("the admin page with an api_key", function()
  lazy_teardown(t.cleanup)
  local srv
  lazy_setup(function() srv = t.start(t.write_script(HUB), { api_key = KEY }) end)

  it("serves its files, with /admin sent to /admin/", function()
    local status, headers = srv:http("GET", "/admin")
    assert.equal(308, status)
    assert.equal("/admin/", headers.location)
    for path, ctype in pairs { ["/admin/"] = "text/html", ["/admin/admin.js"] = "text/javascript",
                               ["/admin/chart.js"] = "text/javascript", ["/admin/admin.css"] = "text/css" } do
      local s, h = srv:http("GET", path)
      assert.equal(200, s, path)
      assert.truthy(h["content-type"]:find(ctype, 1, true), path)
    end
    assert.equal(404, (srv:http("GET", "/admin/missing.js")))
  end)

  it("gives tickets for the key only", function()
    assert.equal(401, (ticket(srv)))
    assert.equal(401, (ticket(srv, "wrong")))
    local status, answer = ticket(srv, KEY)
    assert.equal(200, status)
    assert.equal("luahub_admin", answer.param)
    assert.equal("/ws", answer.ws_path)
    assert.truthy(answer.ticket:match("^%x+$") and #answer.ticket == 64)
  end)

  it("lets one socket in per ticket, feeds it snapshots, and keeps it from the script", function()
    local client = assert(srv:connect())
    local _, tk = ticket(srv, KEY)
    local admin = assert(srv:connect { query = { luahub_admin = tk.ticket } })
    local first = admin:receive_json()
    assert.equal(1, first.clients)
    assert.same({ { "lobby", 1 } }, first.rooms)
    assert.equal(1, #first.nodes)
    assert.is_true(first.nodes[1].self)
    assert.equal("none", first.cluster)

    client:send("hello")                 -- to the lobby: the admin socket is not in it
    assert.equal("hello", client:receive())
    local second = admin:receive_json(3)
    assert.truthy(second.time > first.time)
    assert.truthy(second.received >= first.received + 1)
    client:send("opened")
    assert.equal("1", client:receive())  -- after_connect ran for the client only

    local again, err, status = srv:connect { query = { luahub_admin = tk.ticket } }
    assert.is_nil(again)
    assert.equal("http", err)
    assert.equal(401, status)
    admin:close()
  end)

  it("answers a room's members on every node", function()
    local c = assert(srv:connect())
    local status, _, body = srv:http("GET", "/api/presence?room=lobby", { Authorization = "Bearer " .. KEY })
    assert.equal(200, status)
    local answer = cjson.decode(body)
    assert.equal("lobby", answer.room)
    assert.truthy(#answer.members >= 1)
    assert.equal(401, (srv:http("GET", "/api/presence?room=lobby")))
    assert.equal(400, (srv:http("GET", "/api/presence", { Authorization = "Bearer " .. KEY })))
    c:close()
  end)

  it("refuses a script route under /admin", function()
    local script = t.write_script([[
      local hub = require "luahub"
      hub.config { api_key = "k" }
      hub.route("GET", "/admin/x", function() return 200, "mine" end)
    ]])
    local ok, out = t.check(script)
    assert.is_false(ok)
    assert.truthy(out:find("answers /admin", 1, true), out)
  end)
end)
