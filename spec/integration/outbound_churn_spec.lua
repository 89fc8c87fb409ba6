-- Thousands of waits of every kind (HTTP calls, Redis calls, sleeps), some failing, on
-- one server, then a clean stop: under `make asan` LeakSanitizer turns any leak of a
-- call, a wait or a task into a non-zero exit status, which this spec checks; every
-- answer must have come back, in order per client.
local t = require "luahub.testing"
local backends = require "support.http_backend"
local brokers = require "support.brokers"

local SCRIPT = [[
local hub = require "luahub"
local redis = hub.redis(os.getenv("CHURN_REDIS"))
local backend = os.getenv("CHURN_BACKEND")
hub.handle(function(client, msg)
  local n = tonumber(msg.data)
  local kind = n % 4
  local ok
  if kind == 0 then ok = hub.http.get(backend .. "/status?code=200")
  elseif kind == 1 then ok = redis:call("INCR", "churn")
  elseif kind == 2 then ok = hub.sleep(0)
  else ok = hub.http.get("http://127.0.0.1:1/refused", { timeout = 1 }) == nil end
  client:send(("%d %s"):format(n, ok and "ok" or "failed"))
end)
]]

describe("outbound calls by the thousand", function()
  brokers.need("redis")
  local backend, broker
  lazy_setup(function()
    backend = backends.start()
    broker = brokers.start("redis")
  end)
  lazy_teardown(function()
    if broker then broker:stop() end
    if backend then backend:stop() end
    t.cleanup()
  end)

  it("all answer, in order per client, and the server stops clean (no leak under ASan)", function()
    local script = t.write_script(SCRIPT)
    local srv = t.start(script, nil, { env = {
      CHURN_REDIS = ("redis://127.0.0.1:%d"):format(broker.port), CHURN_BACKEND = backend:url(""),
    } })
    local clients = {}
    for i = 1, 20 do clients[i] = assert(srv:connect()) end
    local per_client = 200   -- 4,000 waits in all
    for round = 0, per_client - 1, 20 do
      for _, c in ipairs(clients) do
        for n = round, round + 19 do c:send(tostring(n)) end
      end
      for _, c in ipairs(clients) do
        for n = round, round + 19 do
          assert.equal(("%d ok"):format(n), c:receive(15))
        end
      end
    end
    assert.equal(0, srv:stop())
    assert.falsy(srv:log():find("Sanitizer", 1, true), srv:log())
  end)
end)
