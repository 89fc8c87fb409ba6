-- Defects an attacker (or an unlucky script) found, each pinned by the story that showed
-- it: oversized response heads, ambiguous handshakes, scripts that register nothing,
-- log floods from throwing handlers, and the logger middleware's clock.
local t = require "luahub.testing"
local hubs = require "support.hubs"

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

describe("an upgrade request repeating a header the handshake reads once", function()
  local srv

  lazy_setup(function() srv = hubs.start_echo() end)
  lazy_teardown(t.cleanup)

  -- Sends every header of a valid upgrade, then the line repeat(key) returns (if any);
  -- returns the raw answer.
  local function upgrade(repeat_line)
    local key = t.base64(t.random_bytes(16))
    local lines = {
      "GET /ws HTTP/1.1", "Host: " .. srv.host .. ":" .. srv.port, "Upgrade: websocket",
      "Connection: Upgrade", "Sec-WebSocket-Key: " .. key, "Sec-WebSocket-Version: 13",
      repeat_line and repeat_line(key),
    }
    -- a refusal closes at once; an accepted socket stays open until the timeout
    return assert(srv:raw(table.concat(lines, "\r\n") .. "\r\n\r\n", 1))
  end

  it("is answered 101 with each header once", function()
    assert.truthy(upgrade():match("^HTTP/1%.1 101 "))
  end)

  for _, case in ipairs {
    { "two different Sec-WebSocket-Key headers",
      function() return "Sec-WebSocket-Key: " .. t.base64(t.random_bytes(16)) end },
    { "the same Sec-WebSocket-Key twice", function(key) return "sec-websocket-key: " .. key end },
    { "Sec-WebSocket-Version 13 and 8", function() return "Sec-WebSocket-Version: 8" end },
    { "Sec-WebSocket-Version 13 twice", function() return "sec-websocket-version: 13" end },
    { "two Host headers", function() return "Host: elsewhere.example" end },
  } do
    it("is refused with 400 when it carries " .. case[1], function()
      local response = upgrade(case[2])
      assert.truthy(response:match("^HTTP/1%.1 400 "), response)
      assert.truthy(response:find("repeated", 1, true), response)
    end)
  end
end)

describe("a script that registers nothing", function()
  local REFUSAL = "registers no handler, middleware, hook, HTTP route or timer"
  lazy_teardown(t.cleanup)

  local function failed_reloads(srv)
    local _, _, body = srv:http("GET", "/metrics")
    return tonumber(body:match('luahub_reloads_total{result="failed"} (%d+)'))
  end

  local function refuse(srv, source)
    local ok, refusal = srv:reload(t.write_script(source))
    assert.is_false(ok)
    assert.matches("reload of [^\n]* failed[^\n]*" .. REFUSAL, refusal)
  end

  it("is refused on reload: the running script keeps serving, the refusal is logged and counted", function()
    local srv = t.start(t.write_script(hubs.ECHO))
    local c = assert(srv:connect())
    for _, source in ipairs { "", "-- an editor's save caught halfway\n",
                              'require("luahub").config { max_message_size = 4096 }\n' } do
      refuse(srv, source)
      c:send("still echoed")
      assert.equal("still echoed", c:receive())
    end
    assert.equal(3, failed_reloads(srv))
    srv:stop()
  end)

  it("is refused at start and by `luahub check`, naming the reason", function()
    local path = t.write_script("")
    local ok, output = t.check(path)
    assert.is_false(ok)
    assert.truthy(output:find(REFUSAL, 1, true), output)
    local srv = t.start(path, nil, { expect_fail = true })
    assert.are_not.equal(0, srv.exit_status)
    assert.truthy(srv:log():find(REFUSAL, 1, true), srv:log())
  end)

  it("is told apart from one that registers only a route, a timer or a hook", function()
    local srv = t.start(t.write_script(hubs.ECHO))
    for _, source in ipairs {
      'require("luahub").route("GET", "/only", function() return 200, "route" end)',
      'require("luahub").every(60, function() end)',
      'require("luahub").on("after_connect", function() end)',
    } do
      assert.is_true(srv:reload(t.write_script(source)))
    end
    assert.equal(0, failed_reloads(srv))
    srv:stop()
  end)
end)

describe("a flood of messages whose handler throws", function()
  local srv

  lazy_setup(function()
    srv = t.start(t.write_script [[
local hub = require "luahub"
local seen = 0
hub.on("on_error", function() seen = seen + 1 end)
hub.route("GET", "/seen", function() return 200, tostring(seen) end)
hub.handle(function(client, msg)
  if msg.data == "sync" then return client:send("synced") end
  error("thrown for " .. msg.data)
end)
]])
  end)
  lazy_teardown(t.cleanup)

  local function handler_errors()
    local _, _, body = srv:http("GET", "/metrics")
    return tonumber(body:match('luahub_errors_total{type="handler"} (%d+)'))
  end

  -- The error lines logged and the errors the suppression notices account for.
  local function logged()
    local lines, suppressed = 0, 0
    for line in srv:log():gmatch("[^\n]+") do
      if line:find("handler error: ", 1, true) then lines = lines + 1 end
      local n = line:match("handler errors: (%d+) more not logged")
      if n then suppressed = suppressed + tonumber(n) end
    end
    return lines, suppressed
  end

  it("logs a bounded number of lines, yet counts every error and calls on_error each time", function()
    local c = assert(srv:connect())
    local frames = {}
    for i = 1, 2000 do frames[i] = t.encode_frame { opcode = 1, payload = "m" .. i } end
    assert(c:send_raw(table.concat(frames)))
    c:send("sync")
    assert.equal("synced", c:receive(30))
    assert.equal(2000, handler_errors())
    assert.equal("2000", select(3, srv:http("GET", "/seen")))
    local lines = logged()
    assert.is_true(lines <= 60, lines .. " handler error lines for 2000 errors")

    -- Once the second is over, the next error is logged after a line saying how many went
    -- unlogged; "synced" comes after the error's log lines are written.
    local thrown = 2000
    t.eventually(function()
      thrown = thrown + 1
      c:send("late " .. thrown)
      c:send("sync")
      c:receive()
      local _, suppressed = logged()
      return suppressed > 0
    end, { timeout = 5, message = "no suppression notice" })
    local total_lines, suppressed = logged()
    assert.equal(thrown, handler_errors())
    assert.equal(thrown, total_lines + suppressed)
    assert.equal(tostring(thrown), select(3, srv:http("GET", "/seen")))
  end)
end)

describe("hub.middleware.logger", function()
  lazy_teardown(t.cleanup)

  it("reports the time the handler took, measured on the monotonic clock", function()
    local srv = t.start(t.write_script [[
local hub = require "luahub"
hub.use(hub.middleware.logger("info"))
hub.handle(function(client, msg)
  local started = os.clock()
  while os.clock() - started < 0.02 do end   -- 20 ms of work
  client:send("done")
end)
]])
    local c = assert(srv:connect())
    c:send("work")
    assert.equal("done", c:receive())
    local ms = tonumber(srv:wait_log('info%s+message {[^}\n]*"ms":([%d.e+-]+)', 3))
    assert.truthy(ms, "no logger line:\n" .. srv:log())
    assert.is_true(ms >= 15, "the logger reported " .. ms .. " ms for a 20 ms handler")
  end)
end)
