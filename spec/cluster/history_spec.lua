-- Room history in a cluster (docs/lua-api.md, "History"): in Redis Streams with the Redis
-- adapter, in JetStream with NATS. The same cases for both: a publication made on one
-- node is recovered on another, also after the first is killed; the bounds hold; a broker
-- that lost its data starts a new epoch.
local t = require "luahub.testing"
local brokers = require "support.brokers"
local history_hub = require "support.history_hub"

local function call(c, req)
  assert(c:send_json(req))
  return assert(c:receive_json()).r
end

local function datas(pubs)
  local list = {}
  for i, p in ipairs(pubs) do list[i] = p.data end
  return table.concat(list, ",")
end

local CONFIG = [[{ history = { size = 5, rooms = { ["short:*"] = { ttl = 0.3 }, ["off:*"] = { size = 0 } } } }]]

-- The cases every broker passes. kind: "redis" | "nats"; opts: brokers.start's.
local function history_cases(kind, opts)
  local broker, script
  lazy_setup(function()
    broker = brokers.start(kind, nil, nil, opts)
    script = t.write_script(history_hub(CONFIG))
  end)
  lazy_teardown(function()
    t.cleanup()
    broker:stop()
  end)

  local function node(name, extra)
    local o = { cluster = { adapter = kind, url = broker:url(), node_id = name } }
    for k, v in pairs(extra or {}) do o[k] = v end
    return t.start(script, o)
  end

  it("recovers on node B what was published on node A, also once A is killed", function()
    local a, b = node("a"), node("b")
    local ca, cb = assert(a:connect()), assert(b:connect())
    assert.same({ true }, call(cb, { op = "join", room = "r" }))
    t.eventually(function() return broker:subscribers("luahub.room.r") == 1 end)
    local p1 = call(ca, { op = "publish", room = "r", data = "one" })
    assert.equal(0, p1[1])   -- no member on A
    assert.equal(1, p1[2].offset)
    assert.equal("one", cb:receive())   -- relayed as to_room
    local pb = assert(b:connect())
    local p2 = call(pb, { op = "publish", room = "r", data = "two" })[2]
    assert.equal(2, p2.offset)
    assert.equal(p1[2].epoch, p2.epoch)
    assert.equal("two", cb:receive())
    local since0 = { epoch = p2.epoch, offset = 0 }
    local r = call(cb, { op = "history", room = "r", since = since0 })
    assert.equal("one,two", datas(r[1]))
    assert.same(p2, r[2])
    call(ca, { op = "publish", room = "r", data = "three" })
    assert.equal("three", cb:receive())
    a:signal("KILL")
    t.eventually(function() return not a:is_running() end)
    r = call(cb, { op = "history", room = "r", since = p2 })
    assert.equal("three", datas(r[1]))
    assert.equal(3, r[1][1].offset)
    assert.equal("two,three", datas(call(cb, { op = "history", room = "r", limit = 2 })[1]))
  end)

  it("keeps binary publications and says which they are", function()
    local c = assert(node("bin"):connect())
    local p = call(c, { op = "publish", room = "bin", data = "00ff0a", binary = true })[2]
    call(c, { op = "publish", room = "bin", data = "text" })
    local r = call(c, { op = "history", room = "bin", since = { epoch = p.epoch, offset = 0 } })
    assert.same({ { offset = 1, data = "00ff0a", binary = true }, { offset = 2, data = "text" } }, r[1])
  end)

  it("is unrecoverable past size and past ttl", function()
    local b = node("b2")
    local c = assert(b:connect())
    local first = call(c, { op = "publish", room = "s", data = "1" })[2]
    for i = 2, 7 do call(c, { op = "publish", room = "s", data = tostring(i) }) end
    local r = call(c, { op = "history", room = "s", since = first })
    assert.same({ false, "unrecoverable", { epoch = first.epoch, offset = 7 } }, r)
    assert.equal("3,4,5,6,7", datas(call(c, { op = "history", room = "s" })[1]))
    local aged = call(c, { op = "publish", room = "short:x", data = "old" })[2]
    call(c, { op = "publish", room = "short:x", data = "older" })
    t.eventually(function()
      return call(c, { op = "history", room = "short:x", since = aged })[2] == "unrecoverable"
    end, { message = "the publications never aged out in " .. kind })
  end)

  it("trims a room to the bounds of the node that publishes (a config changed)", function()
    local c = assert(node("wide"):connect())
    for i = 1, 5 do call(c, { op = "publish", room = "b", data = tostring(i) }) end
    local narrow = t.start(t.write_script(history_hub([[{ history = { size = 3 } }]])),
                           { cluster = { adapter = kind, url = broker:url(), node_id = "narrow" } })
    local n = assert(narrow:connect())
    assert.equal(6, call(n, { op = "publish", room = "b", data = "6" })[2].offset)
    assert.equal("4,5,6", datas(call(c, { op = "history", room = "b" })[1]))
  end)

  it("starts a new epoch when the broker lost its data", function()
    local b = node("b3")
    local c = assert(b:connect())
    local p = call(c, { op = "publish", room = "lost", data = "x" })[2]
    local port, monitor = broker.port, broker.monitor_port
    broker:kill()
    broker = brokers.start(kind, port, monitor, opts)   -- nothing persisted: empty
    local r = t.eventually(function()
      local h = call(c, { op = "history", room = "lost", since = p })
      return h[2] == "unrecoverable" and h
    end, { message = "history never came back after the broker restarted" })
    assert.are_not.equal(p.epoch, r[3].epoch)
    assert.equal(0, r[3].offset)
    local again = call(c, { op = "publish", room = "lost", data = "y" })[2]
    assert.same({ epoch = r[3].epoch, offset = 1 }, again)
  end)

  it("publishes from the publish API in a task (202), as the API cannot wait", function()
    local srv = node("api", { api_key = "k" })
    local c = assert(srv:connect())
    local status, _, body = srv:http("POST", "/api/publish", { Authorization = "Bearer k" },
                                     '{"room":"api","data":"queued"}')
    assert.equal(202, status, body)
    local h = t.eventually(function()
      local r = call(c, { op = "history", room = "api" })
      return r[1] and r[1][1] and r
    end)
    assert.equal("queued", datas(h[1]))
  end)

  it("may only be called where a task may wait", function()
    local srv = t.start(t.write_script(([[
      local hub = require "luahub"
      hub.config(%s)
      hub.handle(function() end)
      hub.after(0, function()
        local ok, err = pcall(coroutine.wrap(function() return hub.history("r") end))
        hub.log.info("own coroutine: " .. tostring(err))
      end)
      local ok, err = pcall(hub.history, "r")
      hub.log.info("at load: " .. tostring(err))
    ]]):format(CONFIG)), { cluster = { adapter = kind, url = broker:url(), node_id = "w" } })
    assert(srv:wait_log("at load: .-hub.history: not usable while the script loads"), srv:log())
    assert(srv:wait_log("own coroutine: .-hub.history: cannot wait here"), srv:log())
  end)
end

describe("room history over Redis", function()
  brokers.need("redis")
  history_cases("redis")
end)

describe("room history over NATS JetStream", function()
  brokers.need("nats")
  history_cases("nats", { jetstream = true })

  it("answers no_jetstream when the server has no JetStream; rooms without history still publish", function()
    local plain = brokers.start("nats")
    finally(function() plain:stop() end)
    local srv = t.start(t.write_script(history_hub(CONFIG)),
                        { cluster = { adapter = "nats", url = plain:url(), node_id = "n" } })
    local c = assert(srv:connect())
    local none = { false, "no_jetstream", "JetStream is not enabled on the NATS server (start nats-server with -js)" }
    assert.same(none, call(c, { op = "publish", room = "r", data = "x" }))
    assert.same(none, call(c, { op = "history", room = "r" }))
    assert(srv:wait_log("jetstream failed at .-: no_jetstream"), srv:log())
    local _, _, metrics = srv:http("GET", "/metrics")
    local calls = tonumber(metrics:match('luahub_outbound_calls_total{kind="nats",result="ok"} (%d+)'))
    assert.is_true(calls and calls >= 2, metrics)   -- answered (by the no-responders status)
    local other = assert(srv:connect())
    assert.same({ true }, call(other, { op = "join", room = "off:r" }))
    local p = call(c, { op = "publish", room = "off:r", data = "plain" })
    assert.equal(1, p[1])
    assert.equal(0, p[2].offset)
    assert.equal("plain", other:receive())
  end)
end)
