-- Send queues under pressure: a slow or stalled reader never slows anyone else, the three
-- policies, the write timeout, and several processes sharing a port (reuse_port).
local t = require "luahub.testing"

-- "burst N" broadcasts the next N numbered 4 KB messages; a reading client asks for them
-- in rounds small enough for its own queue, while a stalled one falls behind.
local BURST = [[
local hub = require "luahub"
local pad = string.rep("p", 4000)
local sent = 0
hub.handle(function(client, msg)
  local n = tonumber(msg.data:match("^burst (%d+)"))
  if n then
    for _ = 1, n do
      sent = sent + 1
      hub.broadcast(("%06d"):format(sent) .. pad)
    end
  else
    client:send(msg)
  end
end)
hub.route("GET", "/who", function()
  return 200, hub.node_id() .. " " .. hub.count()
end)
]]

local function metric(srv, name)
  local _, _, body = srv:http("GET", "/metrics")
  local v = body:match("\n" .. name:gsub("[%[%]%(%)%.%-%+%*%?%^%$]", "%%%0") .. " (%S+)")
  return tonumber(v)
end

-- Reads until the message numbered `last` arrives; returns the numbers seen in order,
-- then what receive said if the connection ended or the timeout passed first.
local function read_until(c, last, timeout)
  local seen = {}
  local _, err, code = c:receive_until(function(m)
    local n = tonumber(m:sub(1, 6))
    seen[#seen + 1] = n
    return n == last
  end, timeout)
  return seen, err, code
end

-- The reader pulls 3000 messages in rounds of 50; returns what it saw, in order.
local function pull_3000(reader)
  local seen = {}
  for round = 1, 60 do
    reader:send("burst 50")
    local got = assert(read_until(reader, round * 50, 10))
    for _, n in ipairs(got) do seen[#seen + 1] = n end
  end
  return seen
end

describe("backpressure", function()
  lazy_teardown(t.cleanup)

  it("delivers everything to a reading client while a stalled one drops (drop_newest, counted)", function()
    local srv = t.start(t.write_script(BURST),
      { send_queue = { messages = 64, policy = "drop_newest" }, write_timeout = 30 })
    local stalled = assert(srv:connect())
    local reader = assert(srv:connect())
    local seen = pull_3000(reader)
    assert.equal(3000, #seen, "the reading client lost messages")
    for i = 1, 3000 do assert.equal(i, seen[i]) end
    assert.is_true(metric(srv, 'luahub_messages_dropped_total{policy="drop_newest"}') > 0)
    assert.is_nil(stalled:closed_code(), "the stalled client was closed")
  end)

  it("keeps the newest messages for a slow client under drop_oldest", function()
    local srv = t.start(t.write_script(BURST),
      { send_queue = { messages = 64, policy = "drop_oldest" }, write_timeout = 30 })
    local slow = assert(srv:connect())
    local reader = assert(srv:connect())
    assert.equal(3000, #pull_3000(reader))
    local seen = read_until(slow, 3000, 20)
    assert.equal(3000, seen[#seen], "the newest message was not kept")
    assert.is_true(#seen < 3000, "nothing was dropped")
    for i = 2, #seen do assert.is_true(seen[i] > seen[i - 1], "order changed") end
    assert.is_true(metric(srv, 'luahub_messages_dropped_total{policy="drop_oldest"}') > 0)
  end)

  it("closes a slow client with 1008 under the close policy, the others keep going", function()
    local srv = t.start(t.write_script(BURST),
      { send_queue = { messages = 64, policy = "close" }, write_timeout = 30 })
    local slow = assert(srv:connect())
    local reader = assert(srv:connect())
    assert.equal(3000, #pull_3000(reader))
    local _, err, code = read_until(slow, 3000, 20)
    assert.equal("closed", err)
    assert.equal(1008, code)
  end)

  it("disconnects a client that stops reading entirely after write_timeout", function()
    local srv = t.start(t.write_script(BURST),
      { send_queue = { messages = 100000, bytes = 1073741824 }, write_timeout = 0.5 })
    local stalled = assert(srv:connect())
    local reader = assert(srv:connect())
    assert.equal(3000, #pull_3000(reader))
    t.eventually(function() return metric(srv, "luahub_connections") == 1 end,
                 { message = "the stalled client was never disconnected" })
    assert.equal(1, metric(srv, 'luahub_errors_total{type="write_timeout"}'))
    reader:send("still here")
    assert.equal("still here", reader:receive())
    stalled:disconnect()
  end)
end)

describe("reuse_port", function()
  lazy_teardown(t.cleanup)

  it("lets two processes serve one port", function()
    local script = t.write_script(BURST)
    local a = t.start(script, { reuse_port = true })
    local b = t.start(script, { reuse_port = true }, { port = a.port })
    assert(b:wait_log("listening on", 5), b:log())
    local clients = {}
    for i = 1, 40 do
      clients[i] = assert(a:connect())
      clients[i]:send("n" .. i)
      assert.equal("n" .. i, clients[i]:receive())
    end
    -- the kernel spreads connections, HTTP ones too, over both listeners: ask until both
    -- processes have answered with their node id and client count
    local counts = {}
    t.eventually(function()
      local _, _, body = a:http("GET", "/who")
      local node, n = body:match("^(%S+) (%d+)$")
      counts[node] = tonumber(n)
      return next(counts, next(counts)) ~= nil
    end, { message = "only one process ever answered" })
    local total, parts = 0, {}
    for _, n in pairs(counts) do
      total = total + n
      parts[#parts + 1] = n
      assert.is_true(n > 0, "one process got no WebSocket client")
    end
    assert.equal(40, total)
  end)
end)
