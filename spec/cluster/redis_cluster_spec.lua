-- The cluster over a Redis Cluster (core/cluster_redis_shards.c, cluster.url
-- redis-cluster://): the story of spec/support/cluster_suite.lua on sharded pub/sub.
require "support.cluster_suite"("redis-cluster", getfenv(1))

local t = require "luahub.testing"
local cjson = require "cjson"
local clusters = require "support.broker_clusters"
local failover = require "support.failover"

local HUB = failover.HUB

local PREFIX = "shard"

local function channel(room) return PREFIX .. ".room." .. room end

-- Room names whose channels live on different masters, and none on the master of the
-- broadcast channel (heartbeats): so each master's traffic is one room's.
local function rooms_on_distinct_masters(rc, n)
  local taken = { [rc:master_of(rc:keyslot(PREFIX .. ".all")).port] = true }
  local rooms = {}
  for i = 1, 200 do
    local room = "room" .. i
    local port = rc:master_of(rc:keyslot(channel(room))).port
    if not taken[port] then
      taken[port] = true
      rooms[#rooms + 1] = room
      if #rooms == n then return rooms end
    end
  end
  error("no rooms on " .. n .. " distinct masters")
end

local function join(c, room)
  c:send_json { op = "join", room = room }
  assert.equal("ack", c:receive())
end

describe("the Redis adapter on a Redis Cluster (sharded pub/sub)", function()
  local rc, a, b, script
  lazy_setup(function()
    rc = clusters.redis_cluster { masters = 3, replicas = 1, node_timeout = 1000 }
    script = t.write_script(HUB)
    -- two seeds: either answers CLUSTER SLOTS
    local function node(name)
      return t.start(script, { cluster = { adapter = "redis", url = rc:url(2), node_id = name,
                                           heartbeat = 0.5, channel_prefix = PREFIX } })
    end
    a, b = node("a"), node("b")
  end)
  lazy_teardown(function()
    t.cleanup()
    if rc then rc:stop() end
  end)

  it("computes each channel's slot as the cluster does and sends a room's traffic to its shard only", function()
    local rooms = rooms_on_distinct_masters(rc, 2)
    local room = rooms[1]
    local owner = rc:master_of(rc:keyslot(channel(room)))
    local ca, cb = assert(a:connect()), assert(b:connect())
    join(ca, room)
    join(cb, room)
    -- subscribed on the master of the room's slot (by the cluster's own CLUSTER KEYSLOT),
    -- and on no other master
    t.eventually(function() return rc:shard_subscribers(owner, channel(room)) == 2 end,
                 { message = "the room was never subscribed on its master " .. owner.port })
    for _, m in ipairs(rc:masters()) do
      if m ~= owner then assert.equal(0, rc:shard_subscribers(m, channel(room)), "master " .. m.port) end
    end
    local before = {}
    for _, m in ipairs(rc:masters()) do before[m.port] = rc:spublish_calls(m) end
    local N = 100
    for i = 1, N do ca:send_json { op = "room", room = room, data = tostring(i) } end
    for i = 1, N do assert.equal(tostring(i), cb:receive()) end
    assert.equal(tostring(1), ca:receive())
    -- the room's master took every publish; the master holding neither the room nor the
    -- heartbeat channel took none
    local idle = rc:master_of(rc:keyslot(channel(rooms[2])))
    for _, m in ipairs(rc:masters()) do
      local delta = rc:spublish_calls(m) - before[m.port]
      if m == owner then
        assert.is_true(delta >= N, ("the room's master served %d SPUBLISH"):format(delta))
      elseif m == idle then
        assert.equal(0, delta, "a master serving neither the room nor the heartbeats")
      else
        assert.is_true(delta < N, ("the heartbeat master served %d SPUBLISH"):format(delta))
      end
    end
    ca:disconnect()
    cb:disconnect()
  end)

  it("follows a room's slot to another master (resharded by hand) and subscribes it there", function()
    local room = rooms_on_distinct_masters(rc, 1)[1]
    local slot = rc:keyslot(channel(room))
    local ca, cb = assert(a:connect()), assert(b:connect())
    join(ca, room)
    join(cb, room)
    local from = rc:master_of(slot)
    t.eventually(function() return rc:shard_subscribers(from, channel(room)) == 2 end,
                 { message = "the room was never subscribed on its master" })
    local to
    for _, m in ipairs(rc:masters()) do if m ~= from then to = m break end end
    rc:move_slot(slot, to)
    t.eventually(function()
      return rc:shard_subscribers(to, channel(room)) == 2 and rc:shard_subscribers(from, channel(room)) == 0
    end, { message = "the room's subscriptions did not follow its slot", timeout = 10 })
    ca:send_json { op = "room", room = room, data = "after the move" }
    assert.equal("after the move", cb:receive())
    assert.equal("after the move", ca:receive())
    ca:disconnect()
    cb:disconnect()
  end)

  it("keeps delivering when the master serving a room is killed and its replica takes over", function()
    local rooms = rooms_on_distinct_masters(rc, 2)
    local hit, spared = rooms[1], rooms[2]
    local victim = rc:master_of(rc:keyslot(channel(hit)))
    local ca, cb = assert(a:connect()), assert(b:connect())
    for _, room in ipairs(rooms) do
      join(ca, room)
      join(cb, room)
    end
    t.eventually(function() return rc:shard_subscribers(victim, channel(hit)) == 2 end,
                 { message = "the room was never subscribed on its master" })
    local stats = failover.run(ca, cb, rooms, function() assert(victim:kill()) end, 20)
    local report = failover.describe(stats)
    print("\nRedis Cluster, master " .. victim.port .. " killed (cluster-node-timeout 1000 ms):\n" .. report)
    local logs = "\n" .. report .. "\nnode a:\n" .. a:log():sub(-2000)
    -- the killed shard's room resumed on the promoted replica, within the deadline, and
    -- every message sent after it resumed arrived
    assert.truthy(stats[hit].resumed_after, "the room on the killed master never resumed" .. logs)
    assert.same({}, stats[hit].doubled, logs)
    -- the other shard's room never noticed: nothing lost, no silence longer than 1 s
    assert.same({}, stats[spared].lost, "a room on a live master lost messages" .. logs)
    assert.is_true(stats[spared].gap < 1, "a room on a live master stalled" .. logs)
    -- the room now lives on the promoted replica
    rc:wait_ok()
    local promoted = rc:master_of(rc:keyslot(channel(hit)))
    assert.are_not.equal(victim.port, promoted.port)
    t.eventually(function() return rc:shard_subscribers(promoted, channel(hit)) == 2 end,
                 { message = "the room was never subscribed on the promoted master" })
    assert(a:wait_log("master 127.0.0.1:" .. victim.port .. " lost"), a:log())

    -- the killed node comes back (as the new master's replica): nothing changes for clients
    rc:restart_node(victim)
    rc:wait_ok()
    ca:send_json { op = "room", room = hit, data = "after the return" }
    assert.equal("after the return", cb:receive_until(function(d) return d == "after the return" and d end))
    ca:disconnect()
    cb:disconnect()
  end)
end)

describe("redis-cluster:// settings", function()
  local brokers = require "support.brokers"
  local script
  lazy_setup(function() script = t.write_script(HUB) end)
  lazy_teardown(function() t.cleanup() end)

  it("go with the Redis adapter only, and redis:// names one server", function()
    local ok, out = t.check(t.write_script([[
      local hub = require "luahub"
      hub.config { cluster = { adapter = "nats", url = "redis-cluster://127.0.0.1:7000" } }
    ]]))
    assert.is_false(ok)
    assert.truthy(out:find("config.cluster.url: a nats:// URL", 1, true), out)
    ok, out = t.check(t.write_script([[
      local hub = require "luahub"
      hub.config { cluster = { adapter = "redis", url = "redis-cluster://127.0.0.1:7000,127.0.0.1:7001" } }
      hub.handle(function() end)
    ]]))
    assert.is_true(ok, out)
    -- the URL is read when the cluster starts, after the listener: the process exits 1
    local function refused(url)
      local sys = require "luahub.testing.sys"
      local out = sys.command_output(("timeout 10 %s --listen 127.0.0.1:%d --config '%s' %s 2>&1; echo \"exit:$?\"")
        :format(t.binary(), t.free_port(), cjson.encode { cluster = { adapter = "redis", url = url } }, script))
      assert.truthy(out:find("exit:1", 1, true), out)
      return out
    end
    local out = refused("redis://127.0.0.1:7000,127.0.0.1:7001")
    assert.truthy(out:find("a redis:// URL names one server", 1, true), out)
    out = refused("redis-cluster://:pw@127.0.0.1:7000,,127.0.0.1:7001")
    assert.truthy(out:find("redis-cluster://***@127.0.0.1:7000,,127.0.0.1:7001", 1, true), out)   -- masked
    assert.truthy(out:find("expected redis-cluster://", 1, true), out)
  end)

  it("pointed at a Redis without cluster mode: degraded, saying why", function()
    brokers.need("redis")
    local plain = brokers.start("redis")
    local srv = t.start(script, { cluster = { adapter = "redis", url = ("redis-cluster://127.0.0.1:%d"):format(plain.port) } })
    assert(srv:wait_log("cluster support disabled"), srv:log())
    local status, _, body = srv:http("GET", "/healthz")
    assert.equal(200, status)
    assert.equal("degraded", cjson.decode(body).cluster)
    plain:stop()
  end)
end)
