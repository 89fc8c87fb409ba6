-- Data on a Redis Cluster: hub.redis("redis-cluster://...") routes each call to the
-- master of its first key's slot (lua/luahub/redis_cluster.lua), and room history
-- (Redis Streams, one hash tag per room) works with cluster.url redis-cluster://: rooms
-- spread over the shards and recovered on another node; calls through a master's
-- failover fail until the replica is promoted, then reach it.
local t = require "luahub.testing"
local cjson = require "cjson"
local clusters = require "support.broker_clusters"
local history_hub = require "support.history_hub"

local function call(c, req)
  assert(c:send_json(req))
  return assert(c:receive_json()).r
end

local REDIS_HUB = [[
local hub = require "luahub"
local r = hub.redis(os.getenv("LUAHUB_SPEC_REDIS"))
hub.route("POST", "/call", function(req)
  local args = hub.json.decode(req.body)
  local reply, code, detail = r:call(unpack(args))
  return 200, { reply = reply == nil and hub.json.null or reply, code = code, detail = detail }
end)
]]

describe("hub.redis and room history on a Redis Cluster", function()
  local rc
  lazy_setup(function()
    rc = clusters.redis_cluster { masters = 3, replicas = 1 }
  end)
  lazy_teardown(function()
    t.cleanup()
    if rc then rc:stop() end
  end)

  local function redis_node()
    local script = t.write_script(REDIS_HUB:gsub('os.getenv%("LUAHUB_SPEC_REDIS"%)', ("%q"):format(rc:url(1))))
    return t.start(script)
  end

  local function rcall(srv, ...)
    local status, _, body = srv:http("POST", "/call", { ["Content-Type"] = "application/json" },
                                     cjson.encode { ... })
    assert.equal(200, status, body)
    return cjson.decode(body)
  end

  it("hub.redis sends each key to the master serving its slot, from one seed", function()
    local srv = redis_node()
    -- keys over every master: each lands where CLUSTER KEYSLOT says, read back through
    -- the same handle
    local owners = {}
    for i = 1, 30 do
      local key = "k" .. i
      assert.equal("OK", rcall(srv, "SET", key, "v" .. i).reply)
      owners[rc:master_of(rc:keyslot(key)).port] = true
      local direct = clusters.redis(rc:master_of(rc:keyslot(key)).port, "GET", key)
      assert.equal("v" .. i, direct)
      assert.equal("v" .. i, rcall(srv, "GET", key).reply)
    end
    local n = 0
    for _ in pairs(owners) do n = n + 1 end
    assert.equal(3, n, "30 keys spread over the 3 masters")
    -- EVAL routes by its first key; two keys with one hash tag are one slot
    assert.same({ "a", "b" }, rcall(srv, "EVAL",
      "redis.call('SET', KEYS[1], 'a'); redis.call('SET', KEYS[2], 'b'); "
      .. "return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}", 2, "{t}.x", "{t}.y").reply)
    -- keys of different slots in one command: Redis's own refusal comes back
    local cross = rcall(srv, "MSET", "k1", "x", "k2", "y")
    assert.equal("redis", cross.code)
    assert.truthy(cross.detail:find("CROSSSLOT", 1, true), cross.detail)
  end)

  it("hub.redis follows MOVED when a slot changed masters", function()
    local srv = redis_node()
    local key = "moving"
    assert.equal("OK", rcall(srv, "SET", key, "1").reply)
    local slot = rc:keyslot(key)
    local from = rc:master_of(slot)
    local to
    for _, m in ipairs(rc:masters()) do if m ~= from then to = m break end end
    rc:move_slot(slot, to)
    assert.equal(to.port, rc:master_of(slot).port)
    -- the handle still has the old map: the old master answers MOVED, the call follows it
    assert.equal("1", rcall(srv, "GET", key).reply)
    assert.equal(2, rcall(srv, "INCR", key).reply)
  end)

  it("hub.redis calls fail while a key's master is lost, and reach the promoted replica", function()
    local srv = redis_node()
    local key = "survives"
    local master = rc:master_of(rc:keyslot(key))
    -- written and acknowledged by the replica before the kill, so the promotion keeps it
    assert.equal("OK", clusters.redis(master.port, "SET", key, "kept"))
    assert.equal(1, clusters.redis(master.port, "WAIT", 1, 5000))
    assert.equal("kept", rcall(srv, "GET", key).reply)
    assert(master:kill())
    local codes = {}
    local got = t.poll(function()
      local r = rcall(srv, "GET", key)
      if r.code then codes[r.code] = true end
      return r.reply == "kept"
    end, { timeout = 20 })
    assert.is_true(got, "the key was never read from the promoted replica")
    for code in pairs(codes) do
      assert.truthy(code == "connect" or code == "closed" or code == "redis", "failed with " .. code)
    end
    assert.are_not.equal(master.port, rc:master_of(rc:keyslot(key)).port)
    rc:restart_node(master)
    rc:wait_ok()
  end)

  it("keeps room history in the cluster: rooms over the shards, recovered on another node", function()
    local script = t.write_script(history_hub("{ history = { size = 5 } }"))
    local function node(name)
      return t.start(script, { cluster = { adapter = "redis", url = rc:url(2), node_id = name,
                                           channel_prefix = "hist" } })
    end
    local a, b = node("a"), node("b")
    local ca, cb = assert(a:connect()), assert(b:connect())
    local masters = {}
    for i = 1, 12 do
      local room = "room" .. i
      local p = call(ca, { op = "publish", room = room, data = "one-" .. i })
      assert.equal(1, p[2].offset, cjson.encode(p))
      call(ca, { op = "publish", room = room, data = "two-" .. i })
      -- both keys of the room on one master, the one serving its hash tag
      local owner = rc:master_of(rc:keyslot("{hist.history." .. room .. "}"))
      masters[owner.port] = true
      assert.equal(1, clusters.redis(owner.port, "EXISTS", "{hist.history." .. room .. "}"))
      assert.equal(1, clusters.redis(owner.port, "EXISTS", "{hist.history." .. room .. "}.meta"))
      local r = call(cb, { op = "history", room = room, since = { epoch = p[2].epoch, offset = 0 } })
      assert.equal(2, #r[1], cjson.encode(r))
      assert.equal("one-" .. i, r[1][1].data)
      assert.equal("two-" .. i, r[1][2].data)
    end
    local n = 0
    for _ in pairs(masters) do n = n + 1 end
    assert.equal(3, n, "12 rooms' histories spread over the 3 masters")
  end)
end)
