-- The cluster story, run once per adapter (spec/cluster/redis_spec.lua, nats_spec.lua):
-- three luahub nodes on one real broker. Clients drive hub operations with JSON commands;
-- every phase ends with a marker broadcast from the sending node, and each client's
-- messages up to the marker are compared whole, so a missing, extra or doubled delivery
-- fails. A publisher's messages reach a subscriber in order through both brokers, so
-- nothing sent before the marker can arrive after it. On a Redis Cluster that holds per
-- channel only (each channel lives on its own shard), so there a client's messages are
-- compared as a set, read until the marker and as many as expected.
local assert = require "luassert"
local cjson = require "cjson"
local socket = require "socket"
local t = require "luahub.testing"
local brokers = require "support.brokers"

local HUB = [[
local hub = require "luahub"
hub.on("before_connect", function(req)
  if req.params.user then return { user_id = req.params.user } end
end)
hub.handle(function(client, msg)
  local m = hub.json.decode(msg.data)
  local opts = { binary = m.binary, except = m.except }
  if m.op == "whoami" then
    client:send(hub.json.encode { id = client.id })
  elseif m.op == "join" then
    client:join(m.room)
    client:send("ack")
  elseif m.op == "leave" then
    client:leave(m.room)
    client:send("ack")
  elseif m.op == "broadcast" then
    hub.broadcast(m.data, opts)
  elseif m.op == "room" then
    hub.to_room(m.room, m.data, opts)
  elseif m.op == "user" then
    hub.to_user(m.user, m.data, opts)
  elseif m.op == "client" then
    local ok, err = hub.to_client(m.id, m.data, opts)
    if not ok then client:send("error " .. tostring(err)) end
  end
end)
hub.route("GET", "/presence", function()
  local members = {}
  for _, m in ipairs(hub.presence("r")) do
    members[#members + 1] = ("%s %s %s"):format(m.client_id, m.user_id or "-", m.node)
  end
  table.sort(members)
  return 200, { global_count = hub.global_count(), global_room_count = hub.global_room_count(),
                room_r = hub.global_room_count("r"), nodes = hub.nodes(), node_id = hub.node_id(),
                members_r = members, stats_r = hub.presence_stats("r") }
end)
]]

local PREFIX = "spec"
local HEARTBEAT = 0.2

local function presence(srv)
  local status, _, body = srv:http("GET", "/presence")
  return status == 200 and cjson.decode(body) or nil
end

local function health(srv)
  local status, _, body = srv:http("GET", "/healthz")
  return status, status and cjson.decode(body)
end

local function metric(srv, name)
  local _, _, body = srv:http("GET", "/metrics")
  local escaped = name:gsub("[%[%]{}%.%-\"]", "%%%0")
  return tonumber((body or ""):match("\n" .. escaped .. " (%S+)"))
end

local function connect(srv, user)
  local c = assert(srv:connect(user and { query = { user = user } } or nil))
  c:send_json { op = "whoami" }
  c.id = assert(c:receive_json()).id
  return c
end

local function command(c, cmd)
  c:send_json(cmd)
  if cmd.op == "join" or cmd.op == "leave" then assert.equal("ack", c:receive()) end
end

-- Every message c receives up to the marker, as "data" (text) or "bin:data" (binary);
-- with at_least, also past the marker until that many arrived (see `sharded` below).
local function until_marker(c, marker, at_least)
  local got, seen = {}, false
  while not seen or #got < (at_least or 0) do
    local data, kind = c:receive(5)
    if data == nil then
      got[#got + 1] = "<" .. tostring(kind) .. ">"
      return got
    end
    if data == marker then
      seen = true
    else
      got[#got + 1] = kind == "binary" and "bin:" .. data or data
    end
  end
  return got
end

-- busted's describe/it/... live in the spec file's environment, not in this module's:
-- the suite runs in the environment the spec passes (getfenv(1)).
-- kind: "redis" | "nats" (one server from support.brokers) | "redis-cluster" (the Redis
-- adapter on a Redis Cluster of three masters with a replica each, which kill and
-- restart as a whole).
local function suite(kind)
  describe(("a three-node cluster over %s"):format(kind), function()
    local sharded = kind == "redis-cluster"
    local adapter = sharded and "redis" or kind
    brokers.need(adapter)
    local broker, nodes, script = nil, {}, nil

    local function start_node(name)
      local srv = t.start(script, { cluster = { adapter = adapter, url = broker:url(), node_id = name,
                                                heartbeat = HEARTBEAT, channel_prefix = PREFIX } })
      nodes[name] = srv
      return srv
    end

    local function subscribers(channel) return broker:subscribers(PREFIX .. "." .. channel) end

    local function wait_subscribers(channel, n)
      t.eventually(function()
        local count = subscribers(channel)
        return count == n, count
      end, { message = ("%s: never %d subscribers"):format(channel, n) })
    end

    local phase = 0
    -- Runs the commands from sender, then a marker broadcast, and checks what every
    -- client got against expect (client -> list; a client not listed must get nothing).
    local function exchange(sender, cmds, clients, expect)
      phase = phase + 1
      local marker = "end-" .. phase
      for _, cmd in ipairs(cmds) do command(sender, cmd) end
      command(sender, { op = "broadcast", data = marker })
      for name, c in pairs(clients) do
        local want = expect[name] or {}
        if sharded then
          -- channels on different shards keep their order each, not among each other:
          -- the marker may overtake a send on another shard
          local got = until_marker(c, marker, #want)
          want = { unpack(want) }
          table.sort(want)
          table.sort(got)
          assert.same(want, got, "client " .. name)
        else
          assert.same(want, until_marker(c, marker), "client " .. name)
        end
      end
    end

    lazy_setup(function()
      script = t.write_script(HUB)
      broker = kind == "redis-cluster" and require("support.broker_clusters").redis_cluster()
               or brokers.start(kind)
      for _, name in ipairs { "a", "b", "c" } do start_node(name) end
      wait_subscribers("all", 3)
    end)

    lazy_teardown(function()
      t.cleanup()
      if broker then broker:stop() end
    end)

    it("delivers each kind of send to the right clients on every node, once", function()
      local A, B, C = nodes.a, nodes.b, nodes.c
      local c = {
        a1 = connect(A, "u1"), b1 = connect(B, "u1"), b2 = connect(B, "u2"), c1 = connect(C, "u3"),
      }
      command(c.a1, { op = "join", room = "r" })
      command(c.b1, { op = "join", room = "r" })
      wait_subscribers("room.r", 2)
      wait_subscribers("user.u1", 2)
      wait_subscribers("user.u2", 1)
      exchange(c.a1, {
        { op = "broadcast", data = "all" },
        { op = "broadcast", data = "not-a1", except = { c.a1.id } },
        { op = "broadcast", data = "not-b2", except = { c.b2.id } },
        { op = "room", room = "r", data = "room" },
        { op = "room", room = "r", data = "room-not-b1", except = { c.b1.id } },
        { op = "room", room = "r", data = "\1\2", binary = true },
        { op = "user", user = "u1", data = "to-u1" },
        { op = "user", user = "u2", data = "to-u2" },
        { op = "client", id = c.b2.id, data = "to-b2" },
        { op = "client", id = c.c1.id, data = "\0\127", binary = true },
      }, c, {
        a1 = { "all", "not-b2", "room", "room-not-b1", "bin:\1\2", "to-u1" },
        b1 = { "all", "not-a1", "not-b2", "room", "bin:\1\2", "to-u1" },
        b2 = { "all", "not-a1", "to-u2", "to-b2" },
        c1 = { "all", "not-a1", "not-b2", "bin:\0\127" },
      })
      -- and from another node, to a client back on the first
      exchange(c.c1, {
        { op = "client", id = c.a1.id, data = "c-to-a1" },
        { op = "room", room = "r", data = "c-to-r" },
      }, c, { a1 = { "c-to-a1", "c-to-r" }, b1 = { "c-to-r" } })
      for _, x in pairs(c) do x:disconnect() end
    end)

    it("does not deliver a node's own messages twice", function()
      local c = { a1 = connect(nodes.a), a2 = connect(nodes.a), b1 = connect(nodes.b) }
      exchange(c.a1, {
        { op = "broadcast", data = "one" },
        { op = "broadcast", data = "two" },
      }, c, { a1 = { "one", "two" }, a2 = { "one", "two" }, b1 = { "one", "two" } })
      -- Node a delivered locally before publishing; the broker's copies (Redis sends a
      -- publisher its own messages) reach a before anything b publishes after receiving
      -- them, so b's marker proves none of them was delivered again.
      exchange(c.b1, {}, c, {})
      for _, x in pairs(c) do x:disconnect() end
    end)

    it("subscribes to a room only while the node has a member in it", function()
      local A, B, C = nodes.a, nodes.b, nodes.c
      local c = { a1 = connect(A), b1 = connect(B), c1 = connect(C) }
      command(c.a1, { op = "join", room = "quiet" })
      command(c.b1, { op = "join", room = "quiet" })
      wait_subscribers("room.quiet", 2)
      local before = metric(C, 'luahub_relay_received_total{kind="room"}')
      exchange(c.a1, { { op = "room", room = "quiet", data = "x" } }, c, { b1 = { "x" }, a1 = { "x" } })
      assert.equal(before, metric(C, 'luahub_relay_received_total{kind="room"}'),
                   "node c has no member in the room and must not receive its traffic")

      command(c.c1, { op = "join", room = "quiet" })
      wait_subscribers("room.quiet", 3)
      exchange(c.a1, { { op = "room", room = "quiet", data = "y" } }, c,
               { a1 = { "y" }, b1 = { "y" }, c1 = { "y" } })
      assert.equal(before + 1, metric(C, 'luahub_relay_received_total{kind="room"}'))

      command(c.c1, { op = "leave", room = "quiet" })
      wait_subscribers("room.quiet", 2)
      exchange(c.a1, { { op = "room", room = "quiet", data = "z" } }, c, { a1 = { "z" }, b1 = { "z" } })
      assert.equal(before + 1, metric(C, 'luahub_relay_received_total{kind="room"}'))
      for _, x in pairs(c) do x:disconnect() end
    end)

    it("converges presence counts and members and evicts a killed node after 3 heartbeats", function()
      local D = start_node("d")
      local c = { connect(nodes.a, "ann"), connect(nodes.b), connect(D, "dan"), connect(D, "dan") }
      command(c[1], { op = "join", room = "r" })
      command(c[3], { op = "join", room = "r" })
      command(c[4], { op = "join", room = "r" })
      local members = { c[1].id .. " ann a", c[3].id .. " dan d", c[4].id .. " dan d" }
      table.sort(members)
      for _, srv in ipairs { nodes.a, nodes.b, nodes.c, D } do
        local p = t.eventually(function()
          local p = presence(srv)
          return p and #p.nodes == 4 and p.global_count == 4 and p.room_r == 3 and #p.members_r == 3 and p, p
        end, { message = "presence never converged on " .. srv.port })
        assert.equal(1, p.global_room_count)
        assert.is_true(p.nodes[1].self)
        -- who is in the room, wherever they are: client id, user id and node
        assert.same(members, p.members_r)
        assert.same({ clients = 3, users = 2 }, p.stats_r)
      end
      -- a leave shows everywhere within a heartbeat
      command(c[4], { op = "leave", room = "r" })
      t.eventually(function()
        local p = presence(nodes.b)
        return p and #p.members_r == 2, p
      end, { message = "a leave never reached node b's presence" })
      D:signal("KILL")
      local killed = socket.gettime()
      t.eventually(function() return not D:is_running() end, { message = "node d survived SIGKILL" })
      local p = t.eventually(function()
        local p = presence(nodes.a)
        return p and #p.nodes == 3 and p, p
      end, { message = "node d was never evicted" })
      local elapsed = socket.gettime() - killed
      assert.equal(2, p.global_count)
      assert.equal(1, p.room_r)
      -- the killed node's members vanish with it
      assert.same({ c[1].id .. " ann a" }, p.members_r)
      assert.same({ clients = 1, users = 1 }, p.stats_r)
      -- 3 missed beats, not the first: the last beat left at most about one interval
      -- before the kill (later on a loaded machine), so eviction comes at least one
      -- interval after it, and not much later than 4
      assert.is_true(elapsed >= HEARTBEAT, "evicted too soon: " .. elapsed)
      assert.is_true(elapsed < 3, "evicted too late: " .. elapsed)
      nodes.d = nil
      for _, x in ipairs { c[1], c[2] } do x:disconnect() end
    end)

    it("keeps local delivery when the broker dies and resumes relaying when it returns", function()
      local A, B = nodes.a, nodes.b
      local a1, a2, b1 = connect(A), connect(A), connect(B)
      local c = { a1 = a1, a2 = a2, b1 = b1 }
      exchange(a1, { { op = "broadcast", data = "before" } }, c,
               { a1 = { "before" }, a2 = { "before" }, b1 = { "before" } })
      local reconnects = metric(A, "luahub_relay_reconnects_total")

      broker:kill()
      t.eventually(function()
        local _, h = health(A)
        return h and h.cluster == "degraded", h
      end, { message = "healthz never said degraded" })
      assert.equal(200, (A:http("GET", "/readyz")))
      command(a1, { op = "broadcast", data = "local only" })
      assert.equal("local only", a2:receive())
      assert.equal("local only", a1:receive())
      assert(A:wait_log("connection lost"), "the loss was not logged")

      broker = broker:restart()
      for _, srv in ipairs { A, B } do
        t.eventually(function()
          local _, h = health(srv)
          return h and h.cluster == "ok", srv:log():sub(-1000)
        end, { timeout = 10, message = "node never reconnected" })
      end
      wait_subscribers("all", 3)
      exchange(a1, { { op = "broadcast", data = "after" } }, c,
               { a1 = { "after" }, a2 = { "after" }, b1 = { "after" } })
      assert.equal(reconnects + 1, metric(A, "luahub_relay_reconnects_total"))
      local _, lost = A:log():gsub("connection lost", "")
      assert.equal(1, lost, "the loss must be logged once")
      for _, x in ipairs { a1, a2, b1 } do x:disconnect() end
    end)
  end)
end

return function(kind, env)
  setfenv(suite, env)
  suite(kind)
end
