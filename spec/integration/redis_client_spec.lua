-- hub.redis (core/outbound_redis.c, lua/luahub/redis_client.lua) against a real
-- redis-server on a free loopback port: a hub.lua handler calls r:call for a WebSocket
-- client and sends back what it got.
local t = require "luahub.testing"
local cjson = require "cjson"
local socket = require "socket"
local brokers = require "support.brokers"

-- The handler's protocol: a text message { id, args, client } runs r:call(args...) on
-- clients[client] and answers { id, v, err, detail, is_null }; { op = "pipeline", n }
-- starts n tasks at once, each pushing its number to a list; { op = "shutdown" } starts a
-- call that never ends by itself; a binary message is SET and read back. `main` and `block` are two connections (two URLs); `short` shares block's
-- with a timeout of its own.
local HUB = [[
local hub = require "luahub"
local PORT = %d
local clients = {
  main = hub.redis("redis://127.0.0.1:" .. PORT),
  block = hub.redis("redis://127.0.0.1:" .. PORT .. "/0"),
  short = hub.redis("redis://127.0.0.1:" .. PORT .. "/0", { timeout = 0.2 }),
}

local function pipeline(client, n)
  local r, done, replies = clients.main, 0, {}
  r:del("pipe")
  for i = 1, n do
    hub.after(0, function()
      replies[i] = r:call("RPUSH", "pipe", i)
      done = done + 1
      if done == n then client:send_json { replies = replies, list = r:lrange("pipe", 0, -1) } end
    end)
  end
end

hub.handle(function(client, msg)
  if msg.kind == "binary" then
    assert(clients.main:set("bin", msg.data) == "OK")
    client:send_binary(clients.main:get("bin"))
    return
  end
  local req = msg:json()
  if req.op == "pipeline" then return pipeline(client, req.n) end
  if req.op == "shutdown" then
    -- on a timer, so that no client stays open while the call waits
    hub.after(0, function()
      client:send("waiting")
      local _, err, detail = clients.block:call("BLPOP", "never", 0)
      hub.log.info("blocked call ended: " .. tostring(err) .. ": " .. tostring(detail))
    end)
    return
  end
  local v, err, detail = clients[req.client or "main"]:call(unpack(req.args))
  client:send_json { id = req.id, v = v, err = err, detail = detail, is_null = v == hub.redis.null }
end)
]]

describe("hub.redis", function()
  brokers.need("redis")
  local broker, srv, ws, seq

  local function hub_script(port) return t.write_script(HUB:format(port)) end

  lazy_setup(function()
    broker = brokers.start("redis")
    srv = t.start(hub_script(broker.port))
    ws = assert(srv:connect())
    seq = 0
  end)
  lazy_teardown(function()
    -- the broker first: cleanup removes the directory its exit is marked in
    if broker then broker:stop() end
    t.cleanup()
  end)

  -- r:call(...) on the named client through the handler: the handler's answer.
  local function call(client, ...)
    seq = seq + 1
    assert(ws:send_json { id = seq, client = client, args = { ... } })
    local answer = assert(ws:receive_json(10))
    assert.equal(seq, answer.id)
    return answer
  end

  it("round-trips SET and GET; a status reply is a string", function()
    assert.equal("OK", call("main", "SET", "k", "v").v)
    assert.equal("v", call("main", "GET", "k").v)
    assert.equal("PONG", call("main", "PING").v)
  end)

  it("gives hub.redis.null (cjson.null) for a nil reply, with no error", function()
    local a = call("main", "GET", "no-such-key")
    assert.is_true(a.is_null)
    assert.equal(cjson.null, a.v)
    assert.is_nil(a.err)
  end)

  it("maps integers to numbers and formats number arguments as Redis reads them", function()
    call("main", "DEL", "n")
    assert.equal(5, call("main", "INCRBY", "n", 5).v)
    assert.equal("1.5", call("main", "INCRBYFLOAT", "f", 1.5).v)
    assert.equal(1e15, call("main", "INCRBY", "big", 1e15).v)
  end)

  it("maps arrays to tables, with nil elements as null and nested arrays", function()
    call("main", "DEL", "l")
    call("main", "RPUSH", "l", "a", "b", "c")
    assert.same({ "a", "b", "c" }, call("main", "LRANGE", "l", 0, -1).v)
    call("main", "SET", "l-a", "a")
    call("main", "SET", "l-b", "b")
    assert.same({ "a", cjson.null, "b" }, call("main", "MGET", "l-a", "no-such-key", "l-b").v)
    local nested = call("main", "EVAL", "return {1, {'two', {3, 'four'}}, redis.error_reply('MYERR inner')}", 0).v
    assert.same({ 1, { "two", { 3, "four" } }, { err = "MYERR inner" } }, nested)
  end)

  it("returns nil, \"redis\", message for an error reply", function()
    call("main", "SET", "str", "x")
    local a = call("main", "INCR", "str")
    assert.is_nil(a.v)
    assert.equal("redis", a.err)
    assert.matches("not an integer", a.detail)
    assert(srv:wait_log("redis:call failed at [^\n]*hub%.lua:%d+: redis %(ERR value is not an integer"), srv:log())
  end)

  it("is binary-safe both ways", function()
    local bytes = {}
    for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
    local value = table.concat(bytes) .. "\r\n$3\r\n\0end"
    assert(ws:send_binary(value))
    assert.equal(value, ws:receive(10))
  end)

  it("keeps order and matches each reply to its caller with many calls in flight", function()
    assert(ws:send_json { op = "pipeline", n = 500 })
    local a = assert(ws:receive_json(20))
    assert.equal(500, #a.list)
    local seen = {}
    for i = 1, 500 do
      -- task i's RPUSH returned the list's length just after its own push
      assert.equal(tostring(i), a.list[a.replies[i]], "task " .. i)
      assert.is_nil(seen[a.replies[i]])
      seen[a.replies[i]] = true
    end
  end)

  it("times out a call and discards its late reply", function()
    call("block", "DEL", "empty")
    local started = socket.gettime()
    local a = call("short", "BLPOP", "empty", 1)
    assert.equal("timeout", a.err)
    assert.matches("no reply within", a.detail)
    assert.is_true(socket.gettime() - started < 0.9)
    -- the next call on that connection waits behind the BLPOP and gets its own reply
    assert.equal("PONG", call("block", "PING").v)
  end)

  it("refuses commands that would change the shared connection, naming them", function()
    local script = t.write_script(([[
      local hub = require "luahub"
      local r = hub.redis("redis://127.0.0.1:%d")
      hub.handle(function(client, msg)
        local ok, err = pcall(r.call, r, msg.data, "x")
        client:send(tostring(err))
      end)
    ]]):format(broker.port))
    local s = t.start(script)
    local c = assert(s:connect())
    for _, cmd in ipairs { "SUBSCRIBE", "monitor", "MULTI", "select" } do
      c:send(cmd)
      assert.matches("redis:call: " .. cmd .. " is not supported", c:receive(10), 1, true)
    end
    s:stop()
  end)

  it("raises for argument mistakes, naming the call", function()
    local ok, out = t.check(t.write_script([[
      local hub = require "luahub"
      local ok, err = pcall(hub.redis, "http://127.0.0.1:1")
      assert(not ok and err:find("hub.redis: \"http://127.0.0.1:1\": expected redis://", 1, true), err)
      ok, err = pcall(hub.redis, "redis://127.0.0.1:1", { timeout = -1 })
      assert(not ok and err:find("opts.timeout must be a number of seconds > 0", 1, true), err)
      local r = hub.redis("redis://127.0.0.1:1")
      ok, err = pcall(r.call, r, "GET", "k")
      assert(not ok and err:find("redis:call: cannot wait here", 1, true), err)
      hub.handle(function() end)
    ]]))
    assert.is_true(ok, out)
  end)

  it("keeps the connection across a hot reload", function()
    local before = call("main", "CLIENT", "ID").v
    assert.is_true(srv:reload())
    assert.equal(before, call("main", "CLIENT", "ID").v)
  end)

  it("counts calls by result on /metrics", function()
    local status, _, body = srv:http("GET", "/metrics")
    assert.equal(200, status)
    local function count(result)
      return tonumber(body:match('luahub_outbound_calls_total{kind="redis",result="' .. result .. '"} (%d+)'))
    end
    assert.is_true(count("ok") > 500)
    assert.is_true(count("redis") >= 1)
    assert.is_true(count("timeout") >= 1)
    assert.matches('luahub_outbound_in_flight{kind="redis"} 0', body, 1, true)
    assert.matches('luahub_outbound_duration_seconds_count{kind="redis"} %d+', body)
  end)

  it("ends a call still waiting at shutdown with \"closed\"", function()
    assert(ws:send_json { op = "shutdown" })
    assert.equal("waiting", ws:receive(10))
    assert.equal(0, srv:stop())
    assert.matches("blocked call ended: closed: redis://127.0.0.1:%d+/0: shutting down", srv:log())
  end)
end)

describe("hub.redis limits", function()
  brokers.need("redis")
  local broker, ws
  lazy_setup(function()
    broker = brokers.start("redis")
    local srv = t.start(t.write_script(([[
      local hub = require "luahub"
      local r = hub.redis("redis://127.0.0.1:%d")
      hub.handle(function(client, msg)
        if msg.data == "big" then
          r:set("big", string.rep("x", 2000))
          local v, err, detail = r:get("big")
          client:send_json { v = v, err = err, detail = detail }
          return
        end
        local results, done = {}, 0
        for i = 1, 3 do
          hub.after(0, function()
            results[i] = select(2, r:call("PING")) or "ok"
            done = done + 1
            if done == 3 then client:send_json(results) end
          end)
        end
      end)
    ]]):format(broker.port)), { outbound = { max_in_flight = 2, max_response_bytes = 1000 } })
    ws = assert(srv:connect())
  end)
  lazy_teardown(function()
    broker:stop()
    t.cleanup()
  end)

  it("refuses a reply over outbound.max_response_bytes with \"too_large\"", function()
    ws:send("big")
    local a = assert(ws:receive_json(10))
    assert.equal("too_large", a.err)
    assert.matches("a reply of about %d+ bytes %(outbound.max_response_bytes is 1000%)", a.detail)
  end)

  it("fails a call past outbound.max_in_flight with \"busy\"", function()
    ws:send("busy")
    local results = assert(ws:receive_json(10))
    table.sort(results)
    assert.same({ "busy", "ok", "ok" }, results)
  end)
end)

-- A broker restarted by the spec inherits the spec's open sockets (luasocket does not
-- mark them close-on-exec), so this one has a server and a broker of its own, and stops
-- the broker first.
describe("hub.redis while Redis is down", function()
  brokers.need("redis")
  local broker, srv, ws
  lazy_setup(function()
    broker = brokers.start("redis")
    srv = t.start(t.write_script(([[
      local hub = require "luahub"
      local r = hub.redis("redis://127.0.0.1:%d")
      hub.handle(function(client, msg)
        local v, err, detail = r:call("PING")
        client:send_json { v = v, err = err, detail = detail }
      end)
    ]]):format(broker.port)))
    ws = assert(srv:connect())
  end)
  lazy_teardown(function()
    broker:stop()
    t.cleanup()
  end)

  local function ping()
    assert(ws:send("ping"))
    return assert(ws:receive_json(10))
  end

  it("fails calls at once with \"connect\", and reconnects when it is back", function()
    assert.equal("PONG", ping().v)
    broker:kill()
    t.eventually(function() return ping().err == "connect" end,
                 { message = "calls never failed with connect" })
    local started = socket.gettime()
    local a = ping()
    assert.equal("connect", a.err)
    assert.is_true(socket.gettime() - started < 0.5)
    assert.matches("^redis://127%.0%.0%.1:%d+: ", a.detail)
    assert(srv:wait_log("hub.redis redis://127.0.0.1:%d+: connection lost"), srv:log())
    broker = brokers.start("redis", broker.port)
    t.eventually(function() return ping().v == "PONG" end,
                 { timeout = 15, message = "calls never succeeded after Redis came back" })
    assert(srv:wait_log("hub.redis redis://127.0.0.1:%d+: connected after"), srv:log())
    local _, _, body = srv:http("GET", "/metrics")
    assert.matches('luahub_outbound_calls_total{kind="redis",result="connect"} [1-9]', body)
  end)
end)

-- The spec plays the Redis server, to hold the connection in its handshake.
describe("hub.redis while connecting", function()
  local listener, srv, ws, held_conn

  -- One command read from a client connection, as a list of its arguments.
  local function read_command(conn)
    local n = tonumber(assert(conn:receive("*l")):match("^%*(%d+)$"))
    local args = {}
    for i = 1, n do
      local len = tonumber(assert(conn:receive("*l")):match("^%$(%d+)$"))
      args[i] = conn:receive(len + 2):sub(1, len)
    end
    return args
  end

  lazy_setup(function()
    listener = assert(socket.bind("127.0.0.1", 0))
    listener:settimeout(5)
    local _, port = listener:getsockname()
    srv = t.start(t.write_script(([[
      local hub = require "luahub"
      local clients = { held = hub.redis("redis://:held@127.0.0.1:%d"),
                        slow = hub.redis("redis://:slow@127.0.0.1:%d") }
      hub.handle(function(client, msg)
        local v, err, detail = clients[msg.data]:call("PING")
        client:send_json { v = v, err = err, detail = detail }
      end)
    ]]):format(port, port)), { outbound = { connect_timeout = 1 } })
    ws = assert(srv:connect())
    for _ = 1, 2 do
      local conn = assert(listener:accept())
      conn:settimeout(5)
      local auth = read_command(conn)
      assert.equal("AUTH", auth[1])
      if auth[2] == "held" then held_conn = conn end
    end
  end)
  lazy_teardown(function()
    t.cleanup()
    listener:close()
  end)

  it("holds a call until the handshake is done, then sends it", function()
    assert(ws:send("held"))
    t.eventually(function()
      local _, _, body = srv:http("GET", "/metrics")
      return body:find('luahub_outbound_in_flight{kind="redis"} 1', 1, true)
    end, { message = "the call never started" })
    held_conn:send("+OK\r\n")
    assert.same({ "PING" }, read_command(held_conn))
    held_conn:send("+PONG\r\n")
    assert.same({ v = "PONG" }, ws:receive_json(10))
  end)

  it("fails calls with \"connect\" when the handshake does not end in outbound.connect_timeout", function()
    assert(ws:send("slow"))
    local a = assert(ws:receive_json(10))
    assert.equal("connect", a.err)
    assert.matches("redis://%*%*%*@127%.0%.0%.1:%d+: connect timed out after 1s", a.detail)
  end)
end)

describe("hub.redis with a password and a database", function()
  brokers.need("redis")
  local broker
  lazy_setup(function() broker = brokers.start("redis", nil, nil, { password = "s3cret" }) end)
  lazy_teardown(function()
    broker:stop()
    t.cleanup()
  end)

  it("sends AUTH and SELECT before any call, and reports a refused password", function()
    local s = t.start(t.write_script(([[
      local hub = require "luahub"
      local good = hub.redis("redis://:s3cret@127.0.0.1:%d/2")
      local bad = hub.redis("redis://:n0t-it@127.0.0.1:%d")
      hub.handle(function(client, msg)
        local r = msg.data == "good" and good or bad
        local v, err, detail = r:call("SET", "in-db-2", "yes")
        if v then v = good:call("GET", "in-db-2") end
        client:send_json { v = v, err = err, detail = detail }
      end)
    ]]):format(broker.port, broker.port)))
    local c = assert(s:connect())
    c:send("good")
    assert.same({ v = "yes" }, c:receive_json(10))
    -- the key went to database 2: database 0 does not have it
    local raw = socket.tcp()
    assert(raw:connect("127.0.0.1", broker.port))
    raw:send("AUTH s3cret\r\nEXISTS in-db-2\r\nSELECT 2\r\nEXISTS in-db-2\r\n")
    assert.equal("+OK", raw:receive("*l"))
    assert.equal(":0", raw:receive("*l"))
    assert.equal("+OK", raw:receive("*l"))
    assert.equal(":1", raw:receive("*l"))
    raw:close()
    c:send("bad")
    local a = c:receive_json(10)
    assert.equal("connect", a.err)
    assert.matches("redis://%*%*%*@127%.0%.0%.1:%d+: AUTH refused", a.detail)
    assert.is_nil(s:log():find("n0t-it", 1, true))
  end)
end)
