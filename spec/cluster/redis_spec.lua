-- The cluster over Redis pub/sub (core/cluster_redis.c): see spec/support/cluster_suite.lua.
require "support.cluster_suite"("redis", getfenv(1))

local t = require "luahub.testing"
local cjson = require "cjson"
local brokers = require "support.brokers"

local HUB = [[
local hub = require "luahub"
hub.on("after_connect", function(client) client:join("r") end)
hub.handle(function(client, msg) hub.to_room("r", msg.data) end)
]]

local function cluster_state(srv)
  local status, _, body = srv:http("GET", "/healthz")
  return status == 200 and cjson.decode(body).cluster
end

describe("the Redis adapter with a password", function()
  brokers.need("redis")
  local broker, script
  lazy_setup(function()
    broker = brokers.start("redis", nil, nil, { password = "s3cret" })
    script = t.write_script(HUB)
  end)
  lazy_teardown(function()
    t.cleanup()
    broker:stop()
  end)

  local function node(url, name)
    return t.start(script, { cluster = { adapter = "redis", url = url, node_id = name } })
  end

  it("connects with redis://:password@host:port/db and relays", function()
    local url = ("redis://:s3cret@127.0.0.1:%d/3"):format(broker.port)
    local a, b = node(url, "a"), node(url, "b")
    local ca, cb = assert(a:connect()), assert(b:connect())
    t.eventually(function() return broker:subscribers("luahub.room.r") == 2 end,
                 { message = "the two nodes never both subscribed to room r" })
    ca:send("over redis with a password")
    assert.equal("over redis with a password", cb:receive())
    assert.equal("ok", cluster_state(a))
  end)

  it("reports a refused password as degraded and logs it once", function()
    local srv = node(("redis://:wrong@127.0.0.1:%d"):format(broker.port), "w")
    assert(srv:wait_log("AUTH refused"), srv:log())
    assert.equal("degraded", cluster_state(srv))
    assert.equal(200, (srv:http("GET", "/readyz")))
    local c = assert(srv:connect())
    c:send("still served locally")
    assert.equal("still served locally", c:receive())
    local _, n = srv:log():gsub("AUTH refused", "")
    assert.equal(1, n)
  end)
end)

describe("cluster settings", function()
  it("are checked: the URL scheme must match the adapter, the node id fit an envelope", function()
    local ok, out = t.check(t.write_script([[
      local hub = require "luahub"
      hub.config { cluster = { adapter = "nats", url = "redis://127.0.0.1:6379",
                               node_id = string.rep("n", 256), channel_prefix = "a b" } }
    ]]))
    assert.is_false(ok)
    assert.truthy(out:find("config.cluster.url: a nats:// URL", 1, true), out)
    assert.truthy(out:find("config.cluster.node_id: expected a string of 1 to 255 bytes", 1, true), out)
    assert.truthy(out:find("config.cluster.channel_prefix", 1, true), out)
  end)
end)
