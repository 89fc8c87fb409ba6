-- Presence on one node: hub.clients(), hub.users(), hub.presence(room) and
-- hub.presence_stats(room) list what is connected right now (the cluster specs cover
-- presence across nodes).
local t = require "luahub.testing"
local cjson = require "cjson"

local SCRIPT = [[
local hub = require "luahub"
hub.on("before_connect", function(req)
  if req.params.user then return { user_id = req.params.user } end
end)
hub.handle(function(client, msg)
  local cmd, arg = msg.data:match("^(%S+)%s*(.*)$")
  if cmd == "join" then client:join(arg) return client:send("joined") end
  local answer
  if cmd == "presence" then
    answer = {}
    for _, m in ipairs(hub.presence(arg)) do
      answer[#answer + 1] = m.client_id .. " " .. (m.user_id or "-") .. " " .. m.node
    end
    table.sort(answer)
  elseif cmd == "stats" then answer = hub.presence_stats(arg)
  elseif cmd == "clients" then
    answer = {}
    for _, c in ipairs(hub.clients()) do answer[#answer + 1] = c.id end
    table.sort(answer)
  elseif cmd == "users" then answer = hub.users()
  elseif cmd == "whoami" then answer = { id = client.id, node = hub.node_id() }
  end
  client:send(hub.json.encode(answer))
end)
]]

local function ask(c, what)
  c:send(what)
  local data = assert(c:receive(5))
  return cjson.decode(data)
end

describe("presence on one node", function()
  lazy_teardown(t.cleanup)
  local srv
  lazy_setup(function() srv = t.start(t.write_script(SCRIPT)) end)

  it("lists the clients, the users and a room's members with their user ids and node", function()
    local ann = assert(srv:connect { query = { user = "ann" } })
    local ann2 = assert(srv:connect { query = { user = "ann" } })
    local anon = assert(srv:connect())
    local me = ask(ann, "whoami")
    local ids = { me.id, ask(ann2, "whoami").id, ask(anon, "whoami").id }
    table.sort(ids)
    assert.same(ids, ask(anon, "clients"))
    assert.same({ "ann" }, ask(anon, "users"))
    for _, c in ipairs { ann, ann2, anon } do
      c:send("join lobby")
      assert.equal("joined", c:receive(5))
    end
    local list = ask(anon, "presence lobby")
    assert.equal(3, #list)
    local anon_id = ask(anon, "whoami").id
    assert.truthy(table.concat(list, "|"):find(anon_id .. " - " .. me.node, 1, true))
    assert.truthy(table.concat(list, "|"):find(me.id .. " ann " .. me.node, 1, true))
    assert.same({ clients = 3, users = 1 }, ask(anon, "stats lobby"))
    assert.same({}, ask(anon, "presence nowhere"))
    assert.same({ clients = 0, users = 0 }, ask(anon, "stats nowhere"))
    -- a closed client is gone from every list
    ann2:close(1000)
    t.eventually(function() return #ask(anon, "presence lobby") == 2 end)
    assert.same({ clients = 2, users = 1 }, ask(anon, "stats lobby"))
    assert.equal(2, #ask(anon, "clients"))
    ann:close(1000)
    t.eventually(function() return #ask(anon, "users") == 0 end)
  end)
end)
