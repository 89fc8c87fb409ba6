-- examples/backend: sessions checked with an HTTP service in before_connect, messages
-- kept in Redis and replayed on join, a webhook that posts into a room. Against the
-- example's own auth_backend.py and a real redis-server, each on a free loopback port,
-- through real WebSocket clients.
local socket = require "socket"
local cjson = require "cjson.safe"
local t = require "luahub.testing"
local brokers = require "support.brokers"
local backends = require "support.http_backend"

local EXAMPLE = t.repo_root() .. "/examples/backend"
local SECRET = "hook-secret"
local HISTORY = 5
local AUTH_TIMEOUT = 1

-- The session service: the example's auth_backend.py, on its own port.
local function start_backend(port)
  return backends.start { script = EXAMPLE .. "/auth_backend.py", port = port }
end

----------------------------------------------------------------------------- helpers
-- One command to the test's redis-server over its own connection: the reply's first line.
local function redis_command(port, command)
  local s = socket.tcp()
  s:settimeout(2)
  assert(s:connect("127.0.0.1", port))
  s:send(command .. "\r\n")
  local line = s:receive("*l")
  s:close()
  return line
end

-- The next message of the wanted type, skipping the others.
local function expect(c, wanted)
  local m, err = c:receive_until(function(data)
    local m = cjson.decode(data)
    return m and m.type == wanted and m
  end)
  assert(m, "expected a " .. wanted .. " message: " .. tostring(err))
  return m
end

local function refused(srv, opts)
  local c, kind, status, _, body = srv:connect(opts)
  assert.is_nil(c, "the upgrade was accepted")
  assert.equal("http", kind)
  return status, body
end

local function texts(entries)
  local list = {}
  for i, e in ipairs(entries) do list[i] = e.text end
  return list
end

describe("examples/backend", function()
  brokers.need("redis")
  local redis, backend, srv

  lazy_setup(function()
    redis = brokers.start("redis")
    backend = start_backend()
    srv = t.start(EXAMPLE .. "/hub.lua", nil, { env = {
      AUTH_URL = backend.base, AUTH_TIMEOUT = AUTH_TIMEOUT, REDIS_URL = redis:url(),
      HISTORY = HISTORY, WEBHOOK_SECRET = SECRET,
    } })
  end)
  lazy_teardown(function()
    -- the processes first: cleanup removes the directories their exits are marked in
    if backend then backend:stop() end
    if redis then redis:stop() end
    t.cleanup()
  end)
  -- Each test starts with empty storage and no client of an earlier one in a room.
  local clients = {}
  before_each(function() assert.equal("+OK", redis_command(redis.port, "FLUSHALL")) end)
  after_each(function()
    for _, c in ipairs(clients) do c:close() end
    clients = {}
    t.eventually(function()
      local _, _, metrics = srv:http("GET", "/metrics")
      return metrics and metrics:find("\nluahub_connections 0\n")
    end, { message = "the test's clients never left" })
  end)

  -- A client of the user the token belongs to, past its welcome.
  local function login(token, how)
    local opts = how == "header" and { headers = { Authorization = "Bearer " .. token } }
                 or { query = { token = token } }
    local c = assert(srv:connect(opts))
    clients[#clients + 1] = c
    return c, expect(c, "welcome")
  end

  local function join(c, room)
    c:send_json { type = "join", room = room }
    return expect(c, "joined").history
  end

  local function say(c, room, text)
    c:send_json { type = "say", room = room, text = text }
  end

  it("lets a known token in as the session's user, by query or by header", function()
    local _, welcome = login("ann-token")
    assert.same({ type = "welcome", user = "ann", rooms = { "general", "ops" } }, welcome)
    local _, bob = login("bob-token", "header")
    assert.equal("bob", bob.user)
  end)

  it("refuses an unknown or missing token with 401, and rooms the session does not name", function()
    local status, body = refused(srv, { query = { token = "forged" } })
    assert.equal(401, status)
    assert.truthy(body:find("invalid session", 1, true), body)
    assert.equal(401, (refused(srv, {})))
    assert.equal(401, (refused(srv, { query = { token = "not a token" } })))

    local bob = login("bob-token")
    bob:send_json { type = "join", room = "ops" }
    assert.equal("forbidden", expect(bob, "error").code)
  end)

  it("stores messages and replays the last HISTORY, in order, on join and after a reconnect", function()
    local ann = login("ann-token")
    assert.same({}, join(ann, "general"))
    for i = 1, HISTORY + 2 do
      say(ann, "general", "m" .. i)
      local m = expect(ann, "message")
      assert.same({ i, "general", "ann", "m" .. i }, { m.id, m.room, m.user, m.text })
      assert.truthy(m.time:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"), m.time)
    end

    local bob = login("bob-token")
    local history = join(bob, "general")
    assert.same({ "m3", "m4", "m5", "m6", "m7" }, texts(history))
    assert.same({ 3, 4, 5, 6, 7 }, { history[1].id, history[2].id, history[3].id, history[4].id, history[5].id })

    ann:close()
    ann = login("ann-token")
    assert.same({ "m3", "m4", "m5", "m6", "m7" }, texts(join(ann, "general")))
    assert.same({}, join(ann, "ops"), "another room has a history of its own")

    say(bob, "general", "m8")
    assert.equal("m8", expect(ann, "message").text)
  end)

  it("answers every message over the rate limit with an error, and stores the others", function()
    local ann = login("ann-token")
    join(ann, "general")
    for i = 1, 30 do say(ann, "general", "flood " .. i) end
    local got = { message = 0, error = 0 }
    for _ = 1, 30 do
      local m = assert(ann:receive_json())
      assert(m.type == "message" or m.code == "rate_limited", m.code)
      got[m.type] = got[m.type] + 1
    end
    -- at least the burst of 20, less the join
    assert.truthy(got.error > 0 and got.message >= 19, got.message)
    assert.equal(":" .. got.message, redis_command(redis.port, "INCRBY room:general:seq 0"))
  end)

  it("keeps the history and every client across a hot reload", function()
    local ann = login("ann-token")
    join(ann, "general")
    for i = 1, 3 do
      say(ann, "general", "before " .. i)
      assert.equal("before " .. i, expect(ann, "message").text)
    end

    assert.is_true(srv:reload())

    say(ann, "general", "after")
    assert.equal("after", expect(ann, "message").text, "a client of the old script is served by the new one")
    local bob = login("bob-token")
    assert.same({ "before 1", "before 2", "before 3", "after" }, texts(join(bob, "general")))
  end)

  it("posts a webhook's event to the room and its history; refuses a bad secret or body", function()
    local ann = login("ann-token")
    join(ann, "general")
    local function post(secret, body)
      local headers = { ["Content-Type"] = "application/json", ["X-Webhook-Secret"] = secret }
      local status, _, answer = srv:http("POST", "/webhook", headers, body)
      return status, cjson.decode(answer)
    end
    local event = cjson.encode { room = "general", event = { kind = "deploy", ok = true } }

    assert.equal(403, (post("wrong", event)))
    assert.equal(403, (post(nil, event)))
    assert.equal(400, (post(SECRET, "not json")))
    assert.equal(400, (post(SECRET, '{"room":"general","event":"\xff"}')))
    assert.equal(400, (post(SECRET, '{"room":"no room!","event":1}')))

    local status, answer = post(SECRET, event)
    assert.equal(200, status)
    assert.same({ id = 1, delivered = 1 }, answer)
    -- the first thing ann gets: the refused posts sent nothing
    local got = assert(ann:receive_json())
    assert.same({ "event", 1, "general", { kind = "deploy", ok = true } }, { got.type, got.id, got.room, got.event })

    local bob = login("bob-token")
    local history = join(bob, "general")
    assert.equal(1, #history)
    assert.same({ kind = "deploy", ok = true }, history[1].event)
  end)

  it("refuses with 503 while the session service is down or hangs, serving the others", function()
    local ann = login("ann-token")
    join(ann, "general")

    backend:stop()
    local status, body = refused(srv, { query = { token = "bob-token" } })
    assert.equal(503, status)
    assert.truthy(body:find("session service unavailable", 1, true), body)
    assert(srv:wait_log("hub.http.request failed at [^\n]*hub.lua:%d+: connect"), srv:log())
    say(ann, "general", "while it is down")
    assert.equal("while it is down", expect(ann, "message").text)

    backend = start_backend(backend.port)
    login("bob-token")

    -- paused: it takes the connection and never answers. The upgrade is refused once
    -- AUTH_TIMEOUT has passed, well within handshake_timeout (10 s), and meanwhile ann
    -- is served.
    backend:signal("STOP")
    local started = socket.gettime()
    local raw = socket.tcp()
    raw:settimeout(5)
    assert(raw:connect(srv.host, srv.port))
    assert(raw:send(("GET /ws?token=bob-token HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
      .. "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n")
      :format(srv.host, srv.port, t.base64(t.random_bytes(16)))))
    say(ann, "general", "while it hangs")
    assert.equal("while it hangs", expect(ann, "message").text)
    raw:settimeout(0)
    local _, pending = raw:receive(1)
    assert.equal("timeout", pending, "the upgrade was answered before the session service")
    raw:settimeout(5)
    local response = raw:receive("*a")
    raw:close()
    local waited = socket.gettime() - started
    assert.truthy(response:find("^HTTP/1.1 503 "), response)
    assert.truthy(response:find("session service unavailable", 1, true), response)
    assert.truthy(waited >= AUTH_TIMEOUT * 0.9 and waited < AUTH_TIMEOUT + 2, waited)

    backend:signal("CONT")
    local bob = t.eventually(function() return srv:connect { query = { token = "bob-token" } } end,
                             { message = "bob was never let in once the session service was back" })
    clients[#clients + 1] = bob
  end)

  it("tells the sender when Redis is down, and works again when it is back", function()
    local ann = login("ann-token")
    join(ann, "general")

    redis:kill()
    say(ann, "general", "lost")
    assert.equal("storage_unavailable", expect(ann, "error").code)
    local status = srv:http("POST", "/webhook", { ["X-Webhook-Secret"] = SECRET },
                            '{"room":"general","event":"lost"}')
    assert.equal(503, status)
    local bob = login("bob-token")
    bob:send_json { type = "join", room = "general" }
    assert.equal("storage_unavailable", expect(bob, "error").code)
    assert.equal(200, (srv:http("GET", "/healthz")))

    redis = brokers.start("redis", redis.port)
    -- the hub reconnects on its own, after a backoff; one try every 0.2 s stays under
    -- the example's rate limit
    t.eventually(function()
      say(ann, "general", "back")
      local m = assert(ann:receive_json())
      return m.type == "message" and m, m
    end, { timeout = 10, interval = 0.2, message = "storing never worked again" })
    assert.same({ "back" }, texts(join(bob, "general")))
    assert(srv:is_running())
  end)
end)
