-- Operations: graceful drain on SIGTERM, and the authenticated publish API.
local t = require "luahub.testing"
local cjson = require "cjson"
local socket = require "socket"

local HUB = [[
local hub = require "luahub"
hub.handle(function(client, msg)
  if msg.data == "join" then client:join("news") return end
  if msg.data:match("^user ") then client:set_user(msg.data:sub(6)) return end
  local n = tonumber(msg.data:match("^burst (%d+)"))
  if n then
    for i = 1, n do client:send(("%06d"):format(i) .. string.rep("x", 1000)) end
    return
  end
  client:send(msg)
end)
]]

describe("drain on SIGTERM", function()
  lazy_teardown(t.cleanup)

  it("delivers everything queued before the drain to a client that keeps reading", function()
    local srv = t.start(t.write_script(HUB), { drain_timeout = 0.5,
                                               send_queue = { messages = 5000, bytes = 16777216 } })
    local c = assert(srv:connect())
    c:send("burst 3000")
    -- the first message proves the burst is queued; then the drain starts
    assert.equal("000001", c:receive():sub(1, 6))
    srv:signal("TERM")
    for i = 2, 3000 do
      local m, err = c:receive(5)
      assert(m, "message " .. i .. " lost: " .. tostring(err))
      assert.equal(("%06d"):format(i), m:sub(1, 6))
    end
    assert.closed_with(1001, c)
    assert(srv:stop() == 0, "expected exit status 0")
  end)

  it("closes an idle client with 1001 after drain_timeout while an active one is served", function()
    local srv = t.start(t.write_script(HUB), { drain_timeout = 0.6 })
    local idle, active = assert(srv:connect()), assert(srv:connect())
    local started = socket.gettime()
    srv:signal("TERM")
    -- the active client talks every 50 ms while the idle one waits for its close
    local n = 0
    local idle_code = t.eventually(function()
      n = n + 1
      active:send("tick " .. n)
      assert.equal("tick " .. n, active:receive(1))
      local data, err, code = idle:receive(0.05)
      assert.is_nil(data)
      return err == "closed" and code, err
    end, { timeout = 3, interval = 0, message = "the idle client was never closed" })
    local idle_for = socket.gettime() - started
    assert.equal(1001, idle_code)
    assert.is_true(idle_for >= 0.5, ("idle client closed after %.2fs"):format(idle_for))
    -- the whole drain ends at 2 x drain_timeout even for a busy client
    assert.closed_with(1001, active, 4)
    t.eventually(function() return not srv:is_running() end, { message = "the server did not exit after the drain" })
    assert.equal(0, srv.exit_status)
  end)

  it("ends at once on a second signal, closing everyone with 1001", function()
    local srv = t.start(t.write_script(HUB), { drain_timeout = 30 })
    local c = assert(srv:connect())
    srv:signal("TERM")
    srv:wait_log("draining", 3)
    srv:signal("TERM")
    assert.closed_with(1001, c, 3)
  end)
end)

describe("the publish API", function()
  lazy_teardown(t.cleanup)
  local srv
  local key = "s3cret-key"
  lazy_setup(function()
    srv = t.start(t.write_script(HUB), { api_key = key, http_max_body = 4096 })
  end)

  local function publish(body, auth)
    local headers = { ["Content-Type"] = "application/json" }
    if auth ~= false then headers.Authorization = "Bearer " .. (auth or key) end
    return srv:http("POST", "/api/publish", headers, type(body) == "table" and cjson.encode(body) or body)
  end

  it("refuses a missing or wrong key with 401 and no detail", function()
    local s1, _, b1 = publish({ broadcast = true, data = "x" }, false)
    local s2, _, b2 = publish({ broadcast = true, data = "x" }, "wrong")
    assert.equal(401, s1)
    assert.equal(401, s2)
    assert.is_nil(b1:find(key, 1, true))
    assert.equal(b1, b2)
  end)

  it("answers malformed JSON with 400 and a clear message", function()
    local status, _, body = publish("{not json")
    assert.equal(400, status)
    assert.truthy(cjson.decode(body).error:find("malformed JSON", 1, true))
    status = publish({ data = "no target" })
    assert.equal(400, status)
  end)

  it("answers a body over http_max_body with 413", function()
    assert.equal(413, (publish({ broadcast = true, data = string.rep("x", 5000) })))
  end)

  it("answers 400 for binary data that is not strict base64", function()
    for _, bad in ipairs { "AAE", "AA=A", "A===", "====", "AA==AA==", "AA E", "AA-_" } do
      local status, _, body = publish({ broadcast = true, data = bad, binary = true })
      assert.equal(400, status, bad)
      assert.equal('binary "data" must be base64', cjson.decode(body).error, bad)
    end
  end)

  it("publishes to a room, a user, a client and everyone", function()
    local member, user, other = assert(srv:connect()), assert(srv:connect()), assert(srv:connect())
    member:send("join")
    user:send("user alice")
    -- an echo round trip proves the join and set_user ran
    member:send("sync"); assert.equal("sync", member:receive())
    user:send("sync"); assert.equal("sync", user:receive())

    local status, _, body = publish({ room = "news", data = { headline = "hi" } })
    assert.equal(200, status)
    assert.equal(1, cjson.decode(body).delivered)
    assert.same({ headline = "hi" }, member:receive_json())

    assert.equal(200, (publish({ user = "alice", data = "for alice" })))
    assert.equal("for alice", user:receive())

    local s3 = publish({ broadcast = true, data = "AAEC", binary = true })
    assert.equal(200, s3)
    for _, c in ipairs { member, user, other } do
      local data, kind = c:receive()
      assert.equal("\0\1\2", data)
      assert.equal("binary", kind)
    end
    assert.equal(404, (publish({ client = "999999999", data = "nobody" })))
    local status_stats, _, stats = srv:http("GET", "/api/stats", { Authorization = "Bearer " .. key })
    assert.equal(200, status_stats)
    local doc = cjson.decode(stats)
    assert.equal(3, doc.clients)
    assert.equal(1, doc.rooms.news)
  end)
end)
