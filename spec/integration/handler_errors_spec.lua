-- A Lua error in a handler is logged with its traceback and does not cost the
-- client its connection.
local t = require "luahub.testing"

local SCRIPT = [[
local hub = require "luahub"
local function explode()
  error("boom from the handler")
end
hub.handle(function(client, msg)
  if msg.data == "boom" then explode() end
  client:send(msg.data)
end)
]]

describe("a handler that throws", function()
  local srv

  lazy_setup(function() srv = t.start(t.write_script(SCRIPT)) end)
  lazy_teardown(t.cleanup)

  it("logs the error with a traceback", function()
    local c = assert(srv:connect())
    c:send("boom")
    assert.truthy(srv:wait_log("boom from the handler", 3), "error not logged:\n" .. srv:log())
    assert.truthy(srv:wait_log("traceback", 3), "no traceback in the log:\n" .. srv:log())
    assert.truthy(srv:log():find("explode", 1, true), "the traceback does not name the failing function")
  end)

  it("keeps the connection open and handles the next message", function()
    local c = assert(srv:connect())
    c:send("boom")
    c:send("after the error")
    local data, err, code = c:receive(3)
    assert.equal("after the error", data, ("got %s %s"):format(tostring(err), tostring(code)))
  end)

  it("does not disturb other clients", function()
    local thrower, bystander = assert(srv:connect()), assert(srv:connect())
    thrower:send("boom")
    bystander:send("unaffected")
    assert.equal("unaffected", bystander:receive())
    thrower:send("me too")
    assert.equal("me too", thrower:receive())
    assert.is_true(srv:is_running())
  end)
end)
