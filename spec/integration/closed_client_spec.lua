-- The closed-client contract: once a client is closing (client:close, its close hooks),
-- changes to it answer nil, "closed" and run no hook; reads still work.
local t = require "luahub.testing"
local observe = require "support.observe"

local SCRIPT = [[
local hub = require "luahub"
local seen = {}
local function try(where, client)
  local function show(ok, err) return tostring(ok) .. "," .. tostring(err) end
  seen[#seen + 1] = where .. " set=" .. show(client:set("k", 1))
    .. " set_user=" .. show(client:set_user("someone"))
    .. " join=" .. show(client:join("late"))
    .. " send=" .. show(client:send("x"))
    .. " user=" .. tostring(client.user_id) .. " meta=" .. tostring(client:get("m"))
end
hub.on("after_connect", function(client)
  client:set_user("ann")
  client:set("m", "kept")
  if client:query("close") then
    client:close(4000, "bye")
    try("after_close", client)
  end
end)
hub.on("before_room_join", function(client, room)
  seen[#seen + 1] = "before_room_join " .. room
end)
hub.on("before_disconnect", function(client) try("before_disconnect", client) end)
hub.on("after_disconnect", function(client) try("after_disconnect", client) end)
hub.route("GET", "/seen", function() return 200, hub.json.array(seen) end)
]]

local CLOSED = "set=nil,closed set_user=nil,closed join=nil,closed send=nil,closed user=ann meta=kept"

describe("a closing client", function()
  local srv

  lazy_setup(function() srv = t.start(t.write_script(SCRIPT)) end)
  lazy_teardown(t.cleanup)

  it("refuses set, set_user and join with closed in its close hooks, and asks no hook", function()
    local c = assert(srv:connect())
    c:close()
    local seen = observe.wait_events(srv, { "before_disconnect " .. CLOSED, "after_disconnect " .. CLOSED }, "/seen")
    for _, line in ipairs(seen) do assert.is_nil(line:find("before_room_join", 1, true), line) end
  end)

  it("refuses them from client:close on", function()
    local c = assert(srv:connect { query = { close = "1" } })
    observe.wait_events(srv, { "after_close " .. CLOSED }, "/seen")
    c:expect_close(4000)
  end)
end)
