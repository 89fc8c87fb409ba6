-- The room protocol on two nodes (docs/protocol.md, "Recovery"): a client moves between
-- nodes, and one node is killed, while the room's history lives in the broker — Redis
-- Streams with a real redis-server, JetStream with a real nats-server. The same cases for
-- both brokers: nothing missed, some missed, too old, another epoch (the broker lost its
-- data), and publications racing resubscribes on both nodes.
local t = require "luahub.testing"
local P = require "luahub.testing.protocol"
local brokers = require "support.brokers"
local support = require "support.pubs"

local HUB = t.repo_root() .. "/spec/protocol/hub.lua"
local offsets, values, range, publish_n = support.offsets, support.values, support.range, support.publish_n

-- The cluster channel of a protocol room's subscribers (core room "~" .. room).
local function channel(room)
  return "luahub.room." .. ("~" .. room):gsub("[^%w_%-]", function(c) return ("%%%02X"):format(c:byte()) end)
end

local function two_node_cases(kind, opts)
  local broker
  lazy_setup(function() broker = brokers.start(kind, nil, nil, opts) end)
  lazy_teardown(function()
    t.cleanup()
    broker:stop()
  end)

  local function node(name)
    return t.start(HUB, { cluster = { adapter = kind, url = broker:url(), node_id = name } },
                   { env = { HISTORY_SIZE = 20 } })
  end

  local function connect(srv) return assert(P.connect(srv, { token = "ok" })) end

  -- a on node A subscribed to room, once A's subscription reaches the broker (so what B
  -- publishes is relayed to it).
  local function subscribed(srv, room)
    local c = connect(srv)
    assert(c:subscribe(room))
    t.eventually(function() return broker:subscribers(channel(room)) == 1 end,
                 { message = "node A never subscribed to " .. channel(room) })
    return c
  end

  it("replays nothing on the other node when nothing was missed", function()
    local A, B = node("a0"), node("b0")
    local a, b = subscribed(A, "open:n0"), connect(B)
    publish_n(b, "open:n0", 1, 3)
    a:wait_pubs("open:n0", 3)
    a:disconnect()
    assert(a:reconnect(B))
    local r = a.rooms["open:n0"]
    assert.same({ 1, 2, 3 }, values(r.pubs))
    assert.same({ 1, 2, 3 }, offsets(r.pubs))
    assert.is_nil(r.missed)
  end)

  it("replays what was missed on the other node, in order, exactly once, after the first is killed", function()
    local A, B = node("a1"), node("b1")
    local a, b = subscribed(A, "open:n1"), connect(B)
    publish_n(b, "open:n1", 1, 3)
    a:wait_pubs("open:n1", 3)
    A:signal("KILL")
    t.eventually(function() return not A:is_running() end)
    publish_n(b, "open:n1", 4, 9)
    assert(a:reconnect(B))
    local r = a.rooms["open:n1"]
    assert.same(range(1, 9), values(r.pubs))
    assert.same(range(1, 9), offsets(r.pubs))
    assert.is_nil(r.missed)
    publish_n(b, "open:n1", 10, 10)
    assert.same(range(1, 10), values(a:wait_pubs("open:n1", 10)))
    assert.equal(0, r.duplicates or 0)
  end)

  it("says unrecoverable on the other node when the gap is older than the history, and sends the recent ones", function()
    local A, B = node("a2"), node("b2")
    local a, b = subscribed(A, "open:n2"), connect(B)
    publish_n(b, "open:n2", 1, 2)
    a:wait_pubs("open:n2", 2)
    a:disconnect()
    publish_n(b, "open:n2", 3, 40)              -- the history keeps 20
    local fresh = connect(B)
    fresh.rooms = a.rooms
    local result = assert(fresh:subscribe("open:n2", { recent = 5 }))
    assert.is_false(result.recovered)
    assert.equal(1, fresh.rooms["open:n2"].missed)
    assert.same({ 1, 2, 36, 37, 38, 39, 40 }, values(fresh.rooms["open:n2"].pubs))
  end)

  it("keeps order without duplicates when publications race resubscribes on both nodes", function()
    local A, B = node("a3"), node("b3")
    local a = subscribed(A, "open:race")
    local N = 400
    assert(connect(B):rpc("burst", { room = "open:race", n = N }))
    for i = 1, 8 do
      a:disconnect()
      assert(a:reconnect(i % 2 == 1 and B or A))
    end
    local pubs = a:wait_pubs("open:race", N, 30)   -- the burst crosses the broker twice per publication
    assert.same(range(1, N), values(pubs))
    assert.equal(0, a.rooms["open:race"].missed or 0)
  end)

  it("says unrecoverable on the other node when the broker lost its data (another epoch)", function()
    local A, B = node("a4"), node("b4")
    local a, b = subscribed(A, "open:n4"), connect(B)
    publish_n(b, "open:n4", 1, 2)
    a:wait_pubs("open:n4", 2)
    local old_epoch = a.rooms["open:n4"].epoch
    a:disconnect()
    local port, monitor = broker.port, broker.monitor_port
    broker:kill()
    broker = brokers.start(kind, port, monitor, opts)   -- nothing persisted: empty
    t.eventually(function() return b:publish("open:n4", { i = 1 }) end,
                 { message = "node B never published again after the broker restarted" })
    assert(a:reconnect(B))
    local r = a.rooms["open:n4"]
    assert.equal(1, r.missed)
    assert.are_not.equal(old_epoch, r.epoch)
    publish_n(b, "open:n4", 2, 2)
    a:wait_pubs("open:n4", 3)
    assert.same({ 1, 2, 2 }, values(r.pubs))   -- the old stream's two, then the new one's second
  end)
end

describe("the room protocol on two nodes over Redis", function()
  brokers.need("redis")
  two_node_cases("redis")
end)

describe("the room protocol on two nodes over NATS JetStream", function()
  brokers.need("nats")
  two_node_cases("nats", { jetstream = true })
end)
