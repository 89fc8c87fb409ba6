-- hub.use and the built-in middleware (recover, logger, metrics, rate_limit), seen from
-- a client, from the log, and from what the script recorded (GET /events, GET /stats).
local cjson = require "cjson"
local t = require "luahub.testing"
local observe = require "support.observe"

local ORDER = [[
local hub = require "luahub"

local function wrap(name)
  return function(next)
    return function(client, msg)
      client:send(name .. ">")
      local r1, r2 = next(client, msg)
      client:send("<" .. name)
      return r1, r2
    end
  end
end
hub.use(wrap("outer"))
hub.use(wrap("inner"))
-- Stops a message before the handler and reports why.
hub.use(function(next)
  return function(client, msg)
    if msg.data == "blocked" then return nil, "unauthorized" end
    return next(client, msg)
  end
end)

local events = {}
hub.on("after_message", function(client, msg, err)
  events[#events + 1] = client.id .. " " .. msg.data .. " " .. tostring(err)
end)
hub.route("GET", "/events", function() return 200, events end)
hub.handle(function(client, msg) client:send("handler:" .. msg.data .. ":" .. client.id) end)
]]

local BUILT_INS = [[
local hub = require "luahub"

local events = {}
local function record(...) events[#events + 1] = table.concat({ ... }, " ") end
hub.route("GET", "/events", function() return 200, events end)
hub.route("GET", "/stats", function() return 200, require("luahub")._stats end)

-- Outermost: records what the chain below returned, so a caught error shows up here as
-- an ordinary return value.
hub.use(function(next)
  return function(client, msg)
    local r1, r2 = next(client, msg)
    record("returned", client.id, msg.data, tostring(r2))
    return r1, r2
  end
end)
hub.use(hub.middleware.metrics())
hub.use(hub.middleware.recover())
hub.use(hub.middleware.logger())

hub.on("after_message", function(client, msg, err) record("after_message", client.id, msg.data, tostring(err)) end)
hub.on("on_error", function(client, err)
  record("on_error", client and client.id or "-", tostring(err):match("[^\n]*"))
end)

local function explode() error("kaboom") end
hub.handle(function(client, msg)
  if msg.data == "boom" then explode() end
  if msg.data == "bad" then return nil, "bad_input" end
  client:send("ok:" .. msg.data .. ":" .. client.id)
end)
]]

local RATE_LIMITED = [[
local hub = require "luahub"
hub.use(hub.middleware.rate_limit(1, 3))
local limited = {}
hub.on("after_message", function(client, msg, err)
  if err then limited[#limited + 1] = client.id .. " " .. msg.data .. " " .. err end
end)
hub.route("GET", "/events", function() return 200, limited end)
hub.handle(function(client, msg) client:send(msg.data .. ":" .. client.id) end)
]]

-- Sends messages in one TCP write, so the server reads them in one go.
local function send_burst(c, messages)
  local frames = {}
  for i, m in ipairs(messages) do frames[i] = t.encode_frame { opcode = 1, payload = m } end
  assert(c:send_raw(table.concat(frames)))
end

describe("middleware", function()
  lazy_teardown(t.cleanup)

  describe("hub.use", function()
    local srv
    lazy_setup(function() srv = t.start(t.write_script(ORDER)) end)

    it("wraps the handler in the order middleware were added, the first outermost", function()
      local c = assert(srv:connect())
      c:send("x")
      local got = {}
      for i = 1, 5 do got[i] = c:receive() end
      got[3] = got[3]:gsub(":%d+$", "")
      assert.same({ "outer>", "inner>", "handler:x", "<inner", "<outer" }, got)
    end)

    it("lets a middleware stop a message before the handler and report an error to after_message", function()
      local c = assert(srv:connect())
      c:send("blocked")
      assert.equal("outer>", c:receive())
      assert.equal("inner>", c:receive())
      assert.equal("<inner", c:receive(), "the handler ran for a blocked message")
      assert.equal("<outer", c:receive())
      c:send("id")
      for _ = 1, 2 do c:receive() end
      local id = c:receive():match("^handler:id:(%d+)$")
      observe.wait_events(srv, id .. " blocked unauthorized")
    end)
  end)

  describe("recover, logger and metrics", function()
    local srv
    lazy_setup(function()
      srv = t.start(t.write_script(BUILT_INS), nil, { args = { "--log-level", "debug" } })
    end)

    local function connect()
      local c = assert(srv:connect())
      c:send("hello")
      local id = assert(c:receive()):match("^ok:hello:(%d+)$")
      return c, id
    end

    it("recover() turns a thrown error into on_error, a log line with a traceback and handler_error", function()
      local c, id = connect()
      c:send("boom")
      c:send("after")
      assert.equal("ok:after:" .. id, c:receive(), "the connection did not survive the error")
      observe.wait_match(srv, "^on_error " .. id .. " .*kaboom$")
      observe.wait_events(srv, { "returned " .. id .. " boom handler_error",
                                 "after_message " .. id .. " boom handler_error" })
      assert.truthy(srv:wait_log("client=" .. id .. " handler error: [^\n]*kaboom", 3), srv:log())
      assert.truthy(srv:log():find("stack traceback", 1, true), "no traceback in the log")
      assert.truthy(srv:log():find("in function 'explode'", 1, true) or srv:log():find("explode", 1, true),
        "the traceback does not name the failing function")
    end)

    it("logger() writes one debug line per message with client, kind, size and outcome", function()
      local c, id = connect()
      c:send("bad")
      c:send_binary("\1\2\3\4")
      assert.truthy(srv:wait_log('debug message {[^}\n]*"err":"bad_input"[^}\n]*}', 3), srv:log())
      local line = srv:wait_log('debug message {[^}\n]*"kind":"binary"[^}\n]*}', 3)
      assert.truthy(line, srv:log())
      assert.truthy(line:find('"client":"' .. id .. '"', 1, true), line)
      assert.truthy(line:find('"bytes":4', 1, true), line)
    end)

    it("metrics() counts messages, errors by code and handler time in luahub._stats", function()
      local before = observe.get_json(srv, "/stats")
      local c = connect()
      c:send("bad")
      c:send("boom")
      c:send("fine")
      assert.truthy(c:receive():match("^ok:fine:"))
      local stats = observe.wait_json(srv, "/stats", function(s) return s.messages >= before.messages + 4 end)
      assert.equal(before.messages + 4, stats.messages)
      assert.equal((before.errors.bad_input or 0) + 1, stats.errors.bad_input)
      assert.equal((before.errors.handler_error or 0) + 1, stats.errors.handler_error)
      assert.is_true(stats.handler_seconds >= before.handler_seconds)
    end)
  end)

  describe("logger() at the default log level", function()
    it("writes nothing, as its lines are debug", function()
      local srv = t.start(t.write_script(BUILT_INS .. [[
hub.route("POST", "/mark", function() hub.log.info("marker reached") return 200, "" end)
]]))
      local c = assert(srv:connect())
      c:send("quiet")
      local id = assert(c:receive()):match("^ok:quiet:(%d+)$")
      -- The logger writes its line once the chain returned, before after_message runs.
      observe.wait_events(srv, "after_message " .. id .. " quiet nil")
      assert.equal(200, (srv:http("POST", "/mark", nil, "")))
      assert.truthy(srv:wait_log("marker reached", 3), srv:log())
      assert.is_nil(srv:log():find("debug", 1, true), srv:log())
    end)
  end)

  describe("rate_limit(1, 3)", function()
    local srv
    lazy_setup(function() srv = t.start(t.write_script(RATE_LIMITED)) end)

    it("passes a burst of 3, and after_message sees rate_limited for the rest", function()
      local c = assert(srv:connect())
      send_burst(c, { "m1", "m2", "m3", "m4", "m5" })
      local id
      for i = 1, 3 do
        local data = assert(c:receive())
        local tag
        tag, id = data:match("^(m%d):(%d+)$")
        assert.equal("m" .. i, tag)
      end
      observe.wait_events(srv, { id .. " m4 rate_limited", id .. " m5 rate_limited" })
      -- The bucket refills at one message a second: a marker gets through, nothing before it.
      local marker = t.eventually(function()
        c:send("marker")
        return c:receive(0.3)
      end, { message = "the marker never got through" })
      assert.equal("marker:" .. id, marker)
    end)

    it("keeps a bucket per client", function()
      local a, b = assert(srv:connect()), assert(srv:connect())
      send_burst(a, { "a1", "a2", "a3", "a4" })
      send_burst(b, { "b1", "b2", "b3" })
      for i = 1, 3 do assert.truthy(a:receive():match("^a" .. i .. ":")) end
      for i = 1, 3 do assert.truthy(b:receive():match("^b" .. i .. ":"), "client b was limited by a's burst") end
    end)
  end)
end)
