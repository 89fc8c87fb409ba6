-- hub.router: an extractor names the event, router:on handlers answer it, not_found takes
-- the rest; and the message object the handlers get (msg.data, kind, client_id, time,
-- msg:json()).
local socket = require "socket"
local t = require "luahub.testing"
local observe = require "support.observe"

local COMMON = [[
local hub = require "luahub"

local events = {}
hub.on("after_message", function(client, msg, err)
  events[#events + 1] = client.id .. " " .. msg.data .. " " .. tostring(err)
end)
hub.route("GET", "/events", function() return 200, events end)

local router = hub.router(function(msg)
  if msg.kind == "binary" then return "binary" end
  local d = msg:json()
  return type(d) == "table" and d.type or nil
end)

router:on("chat", function(client, msg)
  local d = msg:json()
  client:send_json { type = "chat", text = d.text, cached = msg:json() == d, kind = msg.kind,
                     client_id = msg.client_id, self = msg.client_id == client.id, time = msg.time }
end):on("ping", function(client)
  client:send_json { type = "pong" }
end):on("invalid", function(client, msg)
  return nil, "invalid_request"
end)

-- A binary payload is rarely JSON: msg:json() answers the error instead of throwing.
router:on("binary", function(client, msg)
  local value, code, detail = msg:json()
  client:send_json { type = "binary", value = value, code = code, detail = detail, size = #msg.data }
end)
hub.handle(router)
]]

local CUSTOM_NOT_FOUND = COMMON .. [[
router:not_found(function(client, msg)
  local d, code, detail = msg:json()
  if d then
    client:send_json { type = "error", error = "unknown type " .. tostring(d.type) }
  else
    client:send_json { type = "error", error = code, detail = detail }
  end
end)
]]

describe("a router", function()
  lazy_teardown(t.cleanup)

  describe("with the default not_found", function()
    local srv
    lazy_setup(function() srv = t.start(t.write_script(COMMON)) end)

    local function connect()
      local c = assert(srv:connect())
      c:send_json { type = "chat", text = "hi" }
      return c, assert(c:receive_json()).client_id
    end

    it("hands a message to the handler its extracted event names", function()
      local c = assert(srv:connect())
      local before = socket.gettime()
      c:send_json { type = "chat", text = "hello" }
      local reply = assert(c:receive_json())
      assert.equal("chat", reply.type)
      assert.equal("hello", reply.text)
      assert.equal("text", reply.kind)
      assert.is_true(reply.self, "msg.client_id is not the sender's id")
      assert.is_true(reply.time >= before - 1 and reply.time <= socket.gettime() + 1,
        "msg.time " .. tostring(reply.time) .. " is not the time of arrival")
      c:send_json { type = "ping" }
      assert.same({ type = "pong" }, c:receive_json(), "router:on does not chain")
    end)

    it("decodes msg:json() once and hands out the same table", function()
      local c = connect()
      c:send_json { type = "chat", text = "again" }
      assert.is_true(assert(c:receive_json()).cached)
    end)

    it("answers nothing to an unknown event and reports not_found to after_message", function()
      local c, id = connect()
      c:send_json { type = "nope" }
      c:send("not json at all")
      c:send_json { type = "ping" }
      assert.same({ type = "pong" }, c:receive_json(), "something was answered to an unknown event")
      observe.wait_events(srv, { id .. ' {"type":"nope"} not_found', id .. " not json at all not_found" })
    end)

    it("reports a handler's nil, code to after_message", function()
      local c, id = connect()
      c:send_json { type = "invalid" }
      observe.wait_events(srv, id .. ' {"type":"invalid"} invalid_request')
    end)

    it("answers nil, \"bad_json\", detail from msg:json() on a payload that is not JSON, never throwing", function()
      local c, id = connect()
      c:send_binary("{not json")
      local reply = assert(c:receive_json())
      assert.is_nil(reply.value)
      assert.equal("bad_json", reply.code)
      assert.is_string(reply.detail)
      assert.equal(9, reply.size)
      observe.wait_events(srv, id .. " {not json nil")
    end)
  end)

  describe("with a custom not_found", function()
    local srv
    lazy_setup(function() srv = t.start(t.write_script(CUSTOM_NOT_FOUND)) end)

    it("hands it every message no handler takes", function()
      local c = assert(srv:connect())
      c:send_json { type = "nope" }
      assert.same({ type = "error", error = "unknown type nope" }, c:receive_json())
      c:send("{broken")
      local reply = assert(c:receive_json())
      assert.equal("bad_json", reply.error)
      assert.is_string(reply.detail)
      c:send_json { type = "ping" }
      assert.same({ type = "pong" }, c:receive_json())
    end)
  end)

  describe("made from a JSON field name", function()
    it("routes by that field of the message's JSON object", function()
      local srv = t.start(t.write_script([[
local hub = require "luahub"
local router = hub.router("kind")
router:on("greet", function(client, msg) client:send("hello " .. msg:json().name) end)
router:not_found(function(client) client:send("no route") end)
hub.handle(router)
]]))
      local c = assert(srv:connect())
      c:send_json { kind = "greet", name = "ann" }
      assert.equal("hello ann", c:receive())
      c:send_json { type = "greet" }
      assert.equal("no route", c:receive())
      c:send("[1, 2]")
      assert.equal("no route", c:receive())
    end)

    -- The core reads a plain string field from the bytes (lh_json_field); everything
    -- else takes the decoder's path, and must route exactly as a decode would.
    it("routes as a decode of the whole message would, without decoding it", function()
      local srv = t.start(t.write_script([[
local hub = require "luahub"
hub.on("before_message", function(client, msg)
  if msg.data == "rewrite me" then return '{"kind":"greet","name":"rewritten"}' end
  return msg
end)
local router = hub.router("kind")
router:on("greet", function(client, msg)
  -- rawget: whether the router decoded the message on its way here
  local decoded = rawget(msg, "_json") ~= nil
  client:send(("hello %s decoded=%s"):format(msg:json().name, tostring(decoded)))
end)
router:on(7, function(client) client:send("seven") end)
router:not_found(function(client, msg)
  local _, code = msg:json()
  client:send("no route " .. tostring(code))
end)
hub.handle(router)
]]))
      local c = assert(srv:connect())
      local cases = {
        { '{"kind":"greet","name":"ann"}', "hello ann decoded=false" },
        { ' {"a":{"kind":"x"},"b":[{"kind":"y"}],"kind" : "greet","name":"bo"} ', "hello bo decoded=false" },
        { '{"kind":"gr\\u0065et","name":"esc"}', "hello esc decoded=true" },
        { '{"ki\\u006ed":"greet","name":"key"}', "hello key decoded=true" },
        { '{"kind":"nope","kind":"greet","name":"dup"}', "hello dup decoded=false" },
        { '{"n":NaN,"kind":"greet","name":"nan"}', "hello nan decoded=true" },
        { '{"kind":7}', "seven" },
        { '{"kind":"greet"', "no route bad_json" },
        { '{"kind":"greet"} trailing', "no route bad_json" },
        { "not json", "no route bad_json" },
        { '{"kind":"greet","name":"a"}{}', "no route bad_json" },
        { '["greet"]', "no route nil" },
        { '{"other":"greet"}', "no route nil" },
        { "rewrite me", "hello rewritten decoded=false" },
      }
      for _, case in ipairs(cases) do
        c:send(case[1])
        assert.equal(case[2], c:receive(), case[1])
      end
      c:send_binary('{"kind":"greet","name":"bin"}')
      assert.equal("hello bin decoded=false", c:receive(), "a binary message")
    end)
  end)
end)
