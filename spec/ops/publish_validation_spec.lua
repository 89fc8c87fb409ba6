-- POST /api/publish refuses what it cannot deliver unambiguously: a user that is not a
-- string, client ids that are not whole decimal numbers, an except list past its bound.
local t = require "luahub.testing"
local cjson = require "cjson"

local HUB = [[
local hub = require "luahub"
hub.handle(function(client, msg)
  if msg.data == "id" then client:send(client.id) return end
  if msg.data:match("^user ") then client:set_user(msg.data:sub(6)) client:send("ok") end
end)
]]

describe("the publish API's validation", function()
  lazy_teardown(t.cleanup)
  local srv
  local key = "validation-key"
  lazy_setup(function() srv = t.start(t.write_script(HUB), { api_key = key }) end)

  local function publish(body)
    local status, _, answer = srv:http("POST", "/api/publish",
      { ["Content-Type"] = "application/json", Authorization = "Bearer " .. key }, cjson.encode(body))
    return status, cjson.decode(answer)
  end

  -- A connected client and its id (a decimal string).
  local function client()
    local c = assert(srv:connect())
    c:send("id")
    return c, assert(c:receive())
  end

  -- The next message c receives, or nil when none comes within a short wait.
  local function next_message(c) return (c:receive(0.3)) end

  it("answers 400 to a user that is not a string, and delivers to a string one", function()
    local c = assert(srv:connect())
    c:send("user 42")
    assert.equal("ok", c:receive())
    for _, user in ipairs { {}, { "42" }, true, 42 } do
      local status, answer = publish { user = user, data = "for 42" }
      assert.equal(400, status, cjson.encode(user))
      assert.equal('"user" must be a string', answer.error)
    end
    assert.is_nil(next_message(c))
    local status, answer = publish { user = "42", data = "for 42" }
    assert.equal(200, status)
    assert.equal(1, answer.delivered)
    assert.equal("for 42", c:receive())
  end)

  it("takes a client id as a whole decimal number or string only", function()
    local c, id = client()
    for _, bad in ipairs { tonumber(id) + 0.5, ("0x%x"):format(tonumber(id)), id .. ".0", " " .. id,
                           id .. "e0", "-" .. id, "", "99999999999999999" } do
      local status, answer = publish { client = bad, data = "misaddressed" }
      assert.equal(400, status, cjson.encode(bad))
      assert.equal('"client" must be a client id: a whole decimal number', answer.error)
    end
    assert.is_nil(next_message(c))
    assert.equal(200, (publish { client = id, data = "by string" }))
    assert.equal("by string", c:receive())
    assert.equal(200, (publish { client = tonumber(id), data = "by number" }))
    assert.equal("by number", c:receive())
  end)

  it("takes except ids as whole decimal numbers or strings only", function()
    local c, id = client()
    for _, bad in ipairs { { tonumber(id) + 0.5 }, { ("0x%x"):format(tonumber(id)) }, ("0x%x"):format(tonumber(id)) } do
      local status, answer = publish { broadcast = true, data = "x", except = bad }
      assert.equal(400, status, cjson.encode(bad))
      assert.equal('"except" must be a client id or a list of at most 1000 client ids', answer.error)
    end
    assert.is_nil(next_message(c))
    assert.equal(200, (publish { broadcast = true, data = "skips c", except = { id } }))
    assert.is_nil(next_message(c))
  end)

  it("bounds except at 1000 ids", function()
    local c, id = client()
    local except = { id }
    for i = 2, 1000 do except[i] = tostring(1000000 + i) end
    assert.equal(200, (publish { broadcast = true, data = "x", except = except }))
    assert.is_nil(next_message(c))
    except[1001] = "2000000"
    local status, answer = publish { broadcast = true, data = "x", except = except }
    assert.equal(400, status)
    assert.equal('"except" must be a client id or a list of at most 1000 client ids', answer.error)
    assert.is_nil(next_message(c))
  end)
end)
