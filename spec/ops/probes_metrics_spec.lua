-- Operations: health and readiness probes, the Prometheus endpoint (checked by promtool
-- and scraped by a real Prometheus server), and config errors.
local t = require "luahub.testing"
local cjson = require "cjson"
local tools = require "support.tools"

local ECHO = [[
local hub = require "luahub"
hub.handle(function(client, msg) client:send(msg) end)
]]

-- Parses the exposition text into { ["name{labels}"] = value }.
local function scrape(srv)
  local status, headers, body = srv:http("GET", "/metrics")
  assert.equal(200, status)
  assert.truthy(headers["content-type"]:find("text/plain", 1, true))
  local series = {}
  for line in body:gmatch("[^\n]+") do
    if not line:find("^#") then
      local key, value = line:match("^(%S+)%s+(%S+)$")
      assert(key, "unparseable metrics line: " .. line)
      series[key] = tonumber(value)
    end
  end
  return series, body
end

describe("health and readiness probes", function()
  lazy_teardown(t.cleanup)

  it("answer 200 with alive, ready, state, uptime and clients while running", function()
    local srv = t.start(t.write_script(ECHO), { drain_timeout = 5 })
    assert(srv:connect())
    for _, path in ipairs { "/healthz", "/readyz" } do
      local status, headers, body = srv:http("GET", path)
      assert.equal(200, status)
      assert.equal("application/json", headers["content-type"])
      local doc = cjson.decode(body)
      assert.is_true(doc.alive)
      assert.is_true(doc.ready)
      assert.equal("running", doc.state)
      assert.equal(1, doc.clients)
      assert.is_true(doc.uptime >= 0)
    end
  end)

  it("report draining: readyz 503, healthz still 200, new upgrades 503", function()
    local srv = t.start(t.write_script(ECHO), { drain_timeout = 5 })
    local c = assert(srv:connect())
    srv:signal("TERM")
    local body = t.eventually(function()
      local status, _, b = srv:http("GET", "/readyz")
      return status == 503 and b, status
    end, { timeout = 3, message = "readyz never turned 503 after SIGTERM" })
    local doc = cjson.decode(body)
    assert.equal("draining", doc.state)
    assert.is_false(doc.ready)
    assert.equal(200, (srv:http("GET", "/healthz")))
    local refused, kind, code, headers = srv:connect()
    assert.is_nil(refused)
    assert.equal("http", kind)
    assert.equal(503, code)
    assert.truthy(headers["retry-after"])
    c:send("still served")
    assert.equal("still served", c:receive())
  end)

  it("refuse other methods with 405", function()
    local srv = t.start(t.write_script(ECHO))
    assert.equal(405, (srv:http("POST", "/healthz", nil, "x")))
  end)
end)

describe("the /metrics endpoint", function()
  lazy_teardown(t.cleanup)

  it("moves its counters with traffic", function()
    local srv = t.start(t.write_script(ECHO))
    local before = scrape(srv)
    assert.equal(0, before["luahub_connections"])
    assert.equal(0, before['luahub_messages_received_total{kind="text"}'])
    local a, b = assert(srv:connect()), assert(srv:connect())
    for i = 1, 3 do
      a:send("m" .. i)
      assert.equal("m" .. i, a:receive())
    end
    b:send_binary("\0\1")
    assert.equal("\0\1", b:receive())
    local after = scrape(srv)
    assert.equal(2, after["luahub_connections"])
    assert.equal(2, after["luahub_connections_total"])
    assert.equal(3, after['luahub_messages_received_total{kind="text"}'])
    assert.equal(1, after['luahub_messages_received_total{kind="binary"}'])
    assert.equal(4, after["luahub_messages_sent_total"])
    assert.equal(4, after["luahub_handler_duration_seconds_count"])
    assert.equal(4, after['luahub_handler_duration_seconds_bucket{le="+Inf"}'])
    assert.is_true(after["luahub_bytes_received_total"] > before["luahub_bytes_received_total"])
    assert.is_true(after["luahub_bytes_sent_total"] > 0)
    assert.equal(1, after['luahub_state{state="running"}'])
  end)

  it("counts refused upgrades by reason and joins of rooms", function()
    local srv = t.start(t.write_script([[
      local hub = require "luahub"
      hub.config { limits = { connections = 1 } }
      hub.handle(function(client, msg) client:join(msg.data) end)
    ]]), { origins = { "http://ok.example" } })
    local c = assert(srv:connect())
    c:send("lobby")
    t.eventually(function() return scrape(srv)["luahub_rooms"] == 1 end, { timeout = 3, message = "room never counted" })
    assert.is_nil(srv:connect())                                   -- over the limit
    assert.is_nil(srv:connect { origin = "http://evil.example" })   -- origin
    local m = scrape(srv)
    assert.equal(1, m['luahub_connections_refused_total{reason="limit"}'])
    assert.equal(1, m['luahub_connections_refused_total{reason="origin"}'])
    assert.equal(1, m["luahub_room_joins_total"])
  end)

  it("passes promtool check metrics", function()
    tools.need_command("promtool", "prometheus")
    local srv = t.start(t.write_script(ECHO))
    local c = assert(srv:connect())
    c:send("x")
    c:receive()
    local _, body = scrape(srv)
    local file = t.tmpdir() .. "/metrics.txt"
    t.write_file(file, body)
    local p = io.popen("promtool check metrics < " .. file .. " 2>&1; echo exit:$?")
    local out = p:read("*a")
    p:close()
    assert.truthy(out:find("exit:0", 1, true), "promtool: " .. out)
  end)

  it("is scraped by a real Prometheus server that answers a query for a luahub counter", function()
    tools.need_command("prometheus", "prometheus")
    local srv = t.start(t.write_script(ECHO))
    local c = assert(srv:connect())
    c:send("counted")
    c:receive()
    local dir = t.tmpdir()
    local prom_port = t.free_port()
    t.write_file(dir .. "/prometheus.yml", ([[
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: luahub
    static_configs:
      - targets: ["127.0.0.1:%d"]
]]):format(srv.port))
    local pid = io.popen(("prometheus --config.file=%s/prometheus.yml --storage.tsdb.path=%s/data "
      .. "--web.listen-address=127.0.0.1:%d > %s/prom.log 2>&1 & echo $!"):format(dir, dir, prom_port, dir)):read("*l")
    finally(function() os.execute("kill " .. pid .. " 2>/dev/null") end)
    local http = require "socket.http"
    -- Prometheus scrapes every second; asking it 5 times a second is plenty
    local value = t.eventually(function()
      local body = http.request(("http://127.0.0.1:%d/api/v1/query?query=luahub_messages_received_total"):format(prom_port))
      local doc = body and require("cjson.safe").decode(body)
      if not (doc and doc.data and doc.data.result) then return nil, body end
      for _, r in ipairs(doc.data.result) do
        if r.metric.kind == "text" and tonumber(r.value[2]) >= 1 then return tonumber(r.value[2]) end
      end
      return nil, body
    end, { timeout = 60, interval = 0.2,
           message = "Prometheus never answered with luahub_messages_received_total >= 1" })
    assert.equal(1, value)
  end)
end)

describe("config validation", function()
  lazy_teardown(t.cleanup)

  it("reports every problem with its key path at once and exits non-zero", function()
    local ok, out = t.check(t.write_script([[
      local hub = require "luahub"
      hub.config { max_mesage_size = 10, ping_interval = "soon",
                   send_queue = { policy = "fast", bytes = -1 },
                   limits = { connections = 1.5 } }
    ]]))
    assert.is_false(ok)
    assert.truthy(out:find("config.max_mesage_size: unknown key", 1, true), out)
    assert.truthy(out:find("config.ping_interval: expected", 1, true), out)
    assert.truthy(out:find("config.send_queue.policy: expected one of drop_newest", 1, true), out)
    assert.truthy(out:find("config.send_queue.bytes: expected a whole number", 1, true), out)
    assert.truthy(out:find("config.limits.connections: expected a whole number", 1, true), out)
  end)

  it("refuses a pong_timeout that is not longer than ping_interval", function()
    local ok, out = t.check(t.write_script([[
      require("luahub").config { ping_interval = 30, pong_timeout = 10 }
    ]]))
    assert.is_false(ok)
    assert.truthy(out:find("pong_timeout", 1, true), out)
  end)
end)
