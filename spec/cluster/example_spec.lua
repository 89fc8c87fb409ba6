-- examples/cluster: the chat on two nodes and one Redis, through its hub.lua and run.sh.
local cjson = require "cjson.safe"
local t = require "luahub.testing"
local brokers = require "support.brokers"

local EXAMPLE = t.repo_root() .. "/examples/cluster"

-- The next message of the given type (stats arrive every second in between).
local function next_of_type(c, want)
  return c:receive_until(function(data)
    local m = cjson.decode(data)
    return m and m.type == want and m
  end)
end

local function healthz(port) return brokers.http_get(port, "/healthz") end

describe("examples/cluster", function()
  brokers.need("redis")
  local broker
  lazy_setup(function() broker = brokers.start("redis") end)
  lazy_teardown(function()
    t.cleanup()
    broker:stop()
  end)

  it("carries a chat message and the online count from one node to the other", function()
    local nodes = {}
    for i = 1, 2 do
      nodes[i] = t.start(EXAMPLE .. "/hub.lua", { cluster = { url = broker:url(), node_id = "node-" .. i } })
    end
    local ann = assert(nodes[1]:connect { query = { username = "ann" } })
    assert.equal("node-1", next_of_type(ann, "welcome").node)
    local bob = assert(nodes[2]:connect { query = { username = "bob" } })
    assert.equal("node-2", next_of_type(bob, "welcome").node)
    t.eventually(function() return broker:subscribers("luahub.room.lobby") == 2 end,
                 { message = "the two nodes never both subscribed to the lobby" })

    ann:send_json { type = "message", text = "  hello from node 1 " }
    local m = next_of_type(bob, "message")
    assert.equal("ann", m.username)
    assert.equal("hello from node 1", m.text)
    assert.equal("node-1", m.node)
    assert.truthy(m.timestamp:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"))
    assert.equal("hello from node 1", next_of_type(ann, "message").text)

    t.eventually(function()
      local s = next_of_type(ann, "stats")
      return s and s.online == 2 and #s.nodes == 2, s
    end, { message = "node 1 never counted both clients" })
  end)

  it("runs with one command and stops everything on SIGTERM", function()
    local port1, port2 = t.free_port(), t.free_port()
    local dir = t.tmpdir()
    local p = assert(io.popen(("cd %s && ( PORT1=%d PORT2=%d ./run.sh >%s/run.log 2>&1 & echo $!; "
      .. "exec >/dev/null 2>&1; wait $!; touch %s/exited ) </dev/null &"):format(EXAMPLE, port1, port2, dir, dir)))
    local pid = tonumber(p:read("*l"))
    p:close()
    local up, not_up = t.poll(function()
      local a, b = healthz(port1), healthz(port2)
      return a and b and a:find('"cluster":"ok"', 1, true) and b:find('"cluster":"ok"', 1, true)
    end, { timeout = 10, message = "the two nodes never reported cluster ok" })
    -- stopped whether or not it came up, so a failure leaves nothing running
    os.execute("kill -TERM " .. pid)
    t.eventually(function()
      local f = io.open(dir .. "/exited")
      if f then f:close() end
      return f and not healthz(port1) and not healthz(port2)
    end, { timeout = 10, message = "run.sh left something running" })
    assert(up, not_up)
  end)
end)
