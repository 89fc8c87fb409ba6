-- Scripts that wait (core/task.c): every handler, hook, timer and route runs in a
-- coroutine that may wait (here on hub.sleep, the simplest wait); the loop serves
-- everyone else meanwhile, one client's events keep their order, and a reload lets the
-- old script's waiting tasks finish.
local t = require "luahub.testing"
local socket = require "socket"

local SCRIPT = [[
local hub = require "luahub"
hub.config { limits = { waiting_messages = 4 }, handshake_timeout = 1 }
local watcher
hub.handle(function(client, msg)
  local d = msg.data
  if d == "watch" then watcher = client return client:send("watching") end
  local s = d:match("^sleep (%S+)")
  if s then
    hub.sleep(tonumber(s))
    -- the message is still readable after the wait (it was copied before it)
    return client:send("slept " .. msg.data)
  end
  if d == "sleep-then-report" then
    hub.sleep(0.3)
    local sent, err = client:send("late")
    if watcher then
      watcher:send(("handler end: send=%s err=%s user=%s room=%s"):format(tostring(sent), tostring(err),
        tostring(client.user_id), tostring(client:in_room("lobby"))))
    end
    return
  end
  if d == "yield" then coroutine.yield() end
  if d == "wrapped" then
    local ok, err = pcall(coroutine.wrap(function() hub.sleep(0.01) end))
    return client:send("wrapped: " .. tostring(ok) .. " " .. tostring(err))
  end
  if d == "join" then client:set_user("u1") client:join("lobby") return client:send("joined") end
  if d == "start-timer" then
    hub.after(0.01, function()
      hub.sleep(0.1)
      client:send("timer waited")
    end)
    return
  end
  client:send("echo " .. d)
end)
hub.on("before_disconnect", function(client)
  if watcher and watcher ~= client then
    watcher:send(("disconnect: user=%s room=%s"):format(tostring(client.user_id), tostring(client:in_room("lobby"))))
  end
end)
hub.on("before_connect", function(req)
  local w = tonumber(req.params.wait)
  if w then hub.sleep(w) end
  if req.params.deny then return false, 403, "denied after waiting" end
  if req.params.user then return { user_id = req.params.user } end
end)
hub.route("GET", "/slow", function(req)
  hub.sleep(tonumber(req.params.s) or 0.2)
  return 200, "slow " .. (req.params.s or "")
end)
hub.route("GET", "/missing-later", function(req)
  hub.sleep(0.05)
  error("route failed after its wait")
end)
]]

-- Receives until a frame matching pattern arrives; every frame seen on the way.
local function receive_match(c, pattern, timeout)
  local seen = {}
  local got = c:receive_until(function(data) seen[#seen + 1] = data return data:match(pattern) end, timeout or 5)
  return got and seen[#seen], seen
end

describe("a script that waits", function()
  lazy_teardown(t.cleanup)
  local srv
  lazy_setup(function() srv = t.start(t.write_script(SCRIPT)) end)

  it("answers the waiting client after its wait, while other clients are served at once", function()
    local a = assert(srv:connect())
    local b = assert(srv:connect())
    a:send("sleep 1.5")
    local started = socket.gettime()
    for i = 1, 20 do
      b:send("n" .. i)
      assert.equal("echo n" .. i, receive_match(b, "^echo ", 2))
    end
    local others = socket.gettime() - started
    -- twenty round trips of the other client all came back while the first one waits
    assert.truthy(others < 1.2, ("the other client's echoes took %.2f s"):format(others))
    assert.equal("slept sleep 1.5", receive_match(a, "^slept", 5))
    assert.truthy(socket.gettime() - started >= 1.4)
  end)

  it("handles one client's later messages after its waiting one, in order, past the pause bound", function()
    local c = assert(srv:connect())
    c:send("sleep 0.3")
    for i = 1, 30 do c:send("m" .. i) end   -- beyond limits.waiting_messages = 4: reading pauses
    assert.equal("slept sleep 0.3", c:receive(5))
    for i = 1, 30 do assert.equal("echo m" .. i, c:receive(5)) end
    -- and a run of waits, each in turn
    for i = 1, 5 do c:send("sleep 0.01") end
    c:send("last")
    for _ = 1, 5 do assert.equal("slept sleep 0.01", c:receive(5)) end
    assert.equal("echo last", c:receive(5))
  end)

  it("runs a closed client's disconnect hooks after its waiting handler, with its state kept", function()
    local w = assert(srv:connect())
    w:send("watch")
    assert.equal("watching", w:receive(5))
    local c = assert(srv:connect())
    c:send("join")
    assert.equal("joined", c:receive(5))
    c:send("sleep-then-report")
    c:disconnect()
    local first = receive_match(w, "^handler end", 5)
    -- sends to a closed client fail with closed; its user id and rooms are still there
    assert.equal("handler end: send=nil err=closed user=u1 room=true", first)
    assert.equal("disconnect: user=u1 room=true", receive_match(w, "^disconnect", 5))
  end)

  it("lets before_connect wait, then accept, identify or refuse", function()
    local c = assert(srv:connect { path = "/ws?wait=0.2&user=ann" })
    c:send("hello")
    assert.equal("echo hello", c:receive(5))
    local refused, _, status = srv:connect { path = "/ws?wait=0.1&deny=1" }
    assert.is_nil(refused)
    assert.equal(403, status)
    assert.truthy(srv:wait_log("rejected by before_connect: 403 denied after waiting"))
  end)

  it("refuses an upgrade whose before_connect outlasts handshake_timeout with 503", function()
    local c, _, status = srv:connect { path = "/ws?wait=3" }
    assert.is_nil(c)
    assert.equal(503, status)
    assert.truthy(srv:wait_log("before_connect did not answer within 1.0s"))
    -- the server serves on
    local d = assert(srv:connect())
    d:send("x")
    assert.equal("echo x", d:receive(5))
  end)

  it("lets HTTP routes wait, each request answered on its own", function()
    local status, _, body = srv:http("GET", "/slow?s=0.2")
    assert.equal(200, status)
    assert.equal("slow 0.2", body)
    local hstatus, headers, hbody = srv:http("HEAD", "/slow?s=0.05")
    assert.equal(200, hstatus)
    assert.equal("", hbody)
    assert.equal("9", headers["content-length"])   -- the GET answer's length: "slow 0.05"
    local s500 = srv:http("GET", "/missing-later")
    assert.equal(500, s500)
  end)

  it("serves other requests while a route waits", function()
    -- a slow request in flight on its own socket
    local slow = assert(socket.connect(srv.host, srv.port))
    slow:send("GET /slow?s=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    local started = socket.gettime()
    local status, _, body = srv:http("GET", "/slow?s=0.01")
    assert.equal(200, status)
    assert.equal("slow 0.01", body)
    assert.truthy(socket.gettime() - started < 0.8)
    slow:settimeout(5)
    local line = slow:receive("*l")
    assert.equal("HTTP/1.1 200 OK", line)
    slow:close()
  end)

  it("lets timers wait", function()
    local c = assert(srv:connect())
    c:send("start-timer")
    assert.equal("timer waited", c:receive(5))
  end)

  it("counts the tasks that wait on /metrics", function()
    local c = assert(srv:connect())
    c:send("sleep 1")
    assert.truthy(t.eventually(function()
      local _, _, body = srv:http("GET", "/metrics")
      return body:match("\nluahub_tasks_waiting 1\n")
    end))
    assert.equal("slept sleep 1", c:receive(5))
    local _, _, body = srv:http("GET", "/metrics")
    assert.truthy(body:match("\nluahub_tasks_waiting 0\n"), body)
  end)

  it("refuses to wait where no task can (a coroutine of the script's own), and says why", function()
    local c = assert(srv:connect())
    c:send("wrapped")
    local got = c:receive(5)
    assert.truthy(got:match("^wrapped: false .*hub.sleep: cannot wait here"), got)
  end)

  it("fails a task that yields by hand, logged, and serves that client again", function()
    local c = assert(srv:connect())
    c:send("yield")
    assert.truthy(srv:wait_log("coroutine.yield%(%) in a handler"))
    c:send("after")
    assert.equal("echo after", c:receive(5))
  end)
end)

describe("a script that waits at load", function()
  lazy_teardown(t.cleanup)
  it("is refused with the reason", function()
    local ok, out = t.check(t.write_script([[
local hub = require "luahub"
hub.sleep(1)
hub.handle(function() end)
]]))
    assert.falsy(ok)
    assert.truthy(out:match("hub.sleep: cannot wait here"), out)
  end)
end)

describe("a reload while tasks wait", function()
  lazy_teardown(t.cleanup)

  it("lets the old script's waiting tasks finish in the old script; new messages go to the new one", function()
    local old = t.write_script([[
local hub = require "luahub"
local version = "old"
hub.handle(function(client, msg)
  if msg.data == "wait" then hub.sleep(0.8) return client:send("done in " .. version) end
  client:send(version .. " " .. msg.data)
end)
]])
    local srv = t.start(old)
    local a = assert(srv:connect())
    local b = assert(srv:connect())
    a:send("wait")
    a:send("after")            -- held behind the waiting handler of the same client
    b:send("hi")
    assert.equal("old hi", b:receive(5))
    assert.is_true(srv:reload(t.write_script([[
local hub = require "luahub"
hub.handle(function(client, msg) client:send("new " .. msg.data) end)
]])))
    assert.truthy(srv:wait_log("the previous script lives on until its 1 waiting task%(s%) end"))
    b:send("hi")
    assert.equal("new hi", b:receive(5))
    assert.equal("done in old", a:receive(5))
    -- the message held behind it goes to the script now running
    assert.equal("new after", a:receive(5))
  end)
end)
