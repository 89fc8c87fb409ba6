-- The NATS adapter on a NATS cluster (core/cluster_nats.c with a list of servers): three
-- nats-servers joined by routes; luahub nodes on different servers relay through the
-- routes, and when the server they use is killed they move to another one (from
-- cluster.url's list, or from the servers INFO advertised) and subscribe again.
local t = require "luahub.testing"
local clusters = require "support.broker_clusters"
local failover = require "support.failover"

local HUB = failover.HUB

local function join(c, room)
  c:send_json { op = "join", room = room }
  assert.equal("ack", c:receive())
end

describe("the NATS adapter on a NATS cluster", function()
  local nc, script
  lazy_setup(function()
    nc = clusters.nats_cluster(3)
    script = t.write_script(HUB)
  end)
  lazy_teardown(function()
    t.cleanup()
    if nc then nc:stop() end
  end)

  local function node(name, url)
    return t.start(script, { cluster = { adapter = "nats", url = url, node_id = name, heartbeat = 0.5,
                                         channel_prefix = "nc" } })
  end

  local function wait_clients(server, n)
    t.eventually(function() return nc:luahub_clients(server) == n end,
                 { message = ("server %d never had %d luahub connections"):format(server.port, n) })
  end

  it("relays rooms and broadcasts between nodes on different servers, through the routes", function()
    local a = node("a", nc:url { 2, 1, 3 })
    local b = node("b", nc:url { 3, 1, 2 })
    wait_clients(nc.servers[2], 1)
    wait_clients(nc.servers[3], 1)
    local ca, cb = assert(a:connect()), assert(b:connect())
    join(ca, "r")
    join(cb, "r")
    -- a room's interest crosses the routes: retry until b's subscription reached server 2
    assert(t.poll(function()
      ca:send_json { op = "room", room = "r", data = "probe" }
      return cb:receive(0.2) == "probe"
    end), "a room message never crossed the routes")
    ca:send_json { op = "room", room = "r", data = "through the routes" }
    assert.equal("through the routes", cb:receive_until(function(d) return d ~= "probe" and d end))
    cb:send_json { op = "broadcast", data = "to everyone" }
    assert.equal("to everyone", ca:receive_until(function(d) return d == "to everyone" and d end))
    a:stop()
    b:stop()
  end)

  it("keeps delivering when the server both nodes use is killed", function()
    local first = nc.servers[1]
    local a = node("c", nc:url { 1, 2, 3 })
    -- node d lists only server 1: the others it learns from INFO's connect_urls
    local d = node("d", ("nats://127.0.0.1:%d"):format(first.port))
    wait_clients(first, 2)
    local ca, cd = assert(a:connect()), assert(d:connect())
    join(ca, "r")
    join(cd, "r")
    assert(t.poll(function()
      ca:send_json { op = "room", room = "r", data = "probe" }
      return cd:receive(0.2) == "probe"
    end), "the room never relayed")
    while cd:receive(0.3) do end   -- probes still on their way
    local stats = failover.run(ca, cd, { "r" }, function() assert(first:kill()) end, 15)
    local report = failover.describe(stats)
    print("\nNATS cluster, server " .. first.port .. " killed:\n" .. report)
    local logs = "\n" .. report .. "\nnode d:\n" .. d:log():sub(-1500)
    assert.truthy(stats.r.resumed_after, "the room never resumed" .. logs)
    assert.same({}, stats.r.doubled, logs)
    assert(a:wait_log("reconnected to nats"), a:log())
    assert(d:wait_log("reconnected to nats"), d:log())
    -- both moved to the surviving servers
    t.eventually(function()
      return (nc:luahub_clients(nc.servers[2]) or 0) + (nc:luahub_clients(nc.servers[3]) or 0) == 2
    end, { message = "the nodes did not both move to a surviving server" })
    ca:disconnect()
    cd:disconnect()
  end)
end)
