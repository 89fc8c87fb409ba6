-- examples/cluster: the chat on two nodes and one Redis, through its hub.lua and run.sh,
-- over the room protocol (luahub.testing.protocol, as the page's /luahub.js speaks it).
local t = require "luahub.testing"
local P = require "luahub.testing.protocol"
local brokers = require "support.brokers"

local EXAMPLE = t.repo_root() .. "/examples/cluster"

local function healthz(port) return brokers.http_get(port, "/healthz") end

-- The last stats push the connection got whose online count is `online`.
local function stats_with(c, online)
  return c:pump_until(function()
    for i = #c.messages, 1, -1 do
      local m = c.messages[i]
      if type(m) == "table" and m.type == "stats" and m.online == online then return m end
    end
  end, nil, "no stats push with " .. online .. " online")
end

describe("examples/cluster", function()
  brokers.need("redis")
  local broker
  lazy_setup(function() broker = brokers.start("redis") end)
  lazy_teardown(function()
    t.cleanup()
    broker:stop()
  end)

  local function node(i, env)
    return t.start(EXAMPLE .. "/hub.lua", { cluster = { url = broker:url(), node_id = "node-" .. i } }, { env = env })
  end

  it("carries a chat message and the online count from one node to the other, and keeps it in Redis", function()
    local nodes = { node(1), node(2) }
    local ann = assert(P.connect(nodes[1], { data = { username = "ann" } }))
    assert.equal("node-1", ann.connect_result.data.node)
    local bob = assert(P.connect(nodes[2], { data = { username = "bob" } }))
    assert.equal("node-2", bob.connect_result.data.node)
    assert(ann:subscribe("lobby", { recent = 50 }))
    assert(bob:subscribe("lobby", { recent = 50 }))
    -- subscribers are members of the core room "~lobby", whose channel name escapes the "~"
    t.eventually(function() return broker:subscribers("luahub.room.%7Elobby") == 2 end,
                 { message = "the two nodes never both subscribed to the lobby" })

    assert.same({}, assert(ann:rpc("message", { text = "  hello from node 1 " })))
    local m = bob:wait_pubs("lobby", 1)[1].data
    assert.equal("ann", m.username)
    assert.equal("hello from node 1", m.text)
    assert.equal("node-1", m.node)
    assert.truthy(m.timestamp:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"))
    assert.equal("hello from node 1", ann:wait_pubs("lobby", 1)[1].data.text)
    assert.equal(#stats_with(ann, 2).nodes, 2)

    -- a page joining and leaving on node 2 is announced on node 1
    local cy = assert(P.connect(nodes[2], { data = { username = "cy" } }))
    assert(cy:subscribe("lobby"))
    cy:disconnect()
    local notices = ann:pump_until(function(c)
      local seen = {}
      for _, m in ipairs(c.rooms.lobby.messages) do
        if m.username == "cy" then seen[#seen + 1] = m.type .. "@" .. m.node end
      end
      return #seen == 2 and seen
    end, nil, "node 1 never told its page that cy joined and left on node 2")
    assert.same({ "join@node-2", "leave@node-2" }, notices)

    -- node 1 dies; ann comes back on node 2 and recovers there, from Redis, what bob sent
    nodes[1]:signal("KILL")
    t.eventually(function() return not nodes[1]:is_running() end)
    assert(bob:rpc("message", { text = "while you were away" }))
    assert(ann:reconnect(nodes[2]))
    local pubs = ann:wait_pubs("lobby", 2)
    assert.equal("while you were away", pubs[2].data.text)
    assert.is_nil(ann.rooms.lobby.missed)
    assert.is_nil(ann.rooms.lobby.duplicates)
  end)

  it("refuses a connect without a username, and a room other than the lobby", function()
    local srv = node(3)
    local _, code = P.connect(srv, { data = {} })
    assert.equal("unauthorized", code)
    local c = assert(P.connect(srv, { data = { username = "cy" } }))
    local _, why = c:subscribe("elsewhere")
    assert.equal("forbidden", why)
    local _, bad = c:rpc("message", { text = "   " })
    assert.equal("bad_request", bad)
  end)

  it("refuses the lobby as unavailable while Redis is down, and gives it once Redis is back", function()
    local srv = node(5)
    local c = assert(P.connect(srv, { data = { username = "dee" } }))
    broker:kill()
    t.eventually(function()
      local body = healthz(srv.port)
      return body and body:find('"cluster":"degraded"', 1, true)
    end, { message = "the node never noticed Redis was gone" })
    local result, code = c:subscribe("lobby", { recent = 50 })
    assert.is_nil(result)
    assert.equal("unavailable", code)
    result, code = c:subscribe("lobby")
    assert.is_nil(result)
    assert.equal("unavailable", code)
    broker = brokers.start("redis", broker.port)
    t.eventually(function()
      local got = c:subscribe("lobby", { recent = 50 })
      return got ~= nil
    end, { timeout = 15, interval = 0.5, message = "the lobby never came back with Redis" })   -- under the rate limit
    assert(c:rpc("message", { text = "back" }))
    assert.equal("back", c:wait_pubs("lobby", 1)[1].data.text)
  end)

  it("lists every node's WebSocket URL for the page's failover, and accepts pages of every node", function()
    local urls = "http://127.0.0.1:8101 http://127.0.0.1:8102/"
    local srv = node(4, { NODE_URLS = urls })
    local body = assert(brokers.http_get(srv.port, "/cluster.json"))
    local list = require("cjson.safe").decode(body)
    assert.equal("node-4", list.node)
    assert.same({ "ws://127.0.0.1:8101/ws", "ws://127.0.0.1:8102/ws" }, list.urls)
    assert(srv:connect { origin = "http://127.0.0.1:8102" })
    local refused, kind, status = srv:connect { origin = "http://127.0.0.1:9999" }
    assert.is_nil(refused)
    assert.same({ "http", 403 }, { kind, status })
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
