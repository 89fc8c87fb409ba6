-- The flush's two ways of writing (core/write_ring.c, core/conn.c): the pass's io_uring
-- batch (io_uring = "auto", where the kernel allows it) and writev (io_uring = "off").
-- Both must deliver the same bytes: bursts of broadcasts, messages larger than a socket
-- takes at once (a short send, finished by writev on writable), and a client that reads
-- late, while the log and /metrics say which way is in use.
local t = require "luahub.testing"

local HUB = [[
local hub = require "luahub"
hub.config { io_uring = %q, send_queue = { messages = 0, bytes = 0 } }
hub.handle(function(client, msg)
  local n, size = msg.data:match("^burst (%%d+) (%%d+)$")
  if not n then return end
  for i = 1, tonumber(n) do
    hub.broadcast(string.format("%%06d", i) .. string.rep("x", tonumber(size) - 6))
  end
end)
]]

local CLIENTS = 20

-- Every client reads n messages of size bytes numbered 1..n, in order.
local function read_burst(clients, n, size)
  for k, c in ipairs(clients) do
    for i = 1, n do
      local m = assert(c:receive(20))
      assert.equal(size, #m, ("client %d, message %d"):format(k, i))
      assert.equal(string.format("%06d", i), m:sub(1, 6), ("client %d, message %d"):format(k, i))
    end
  end
end

local function metric(srv, name)
  local status, _, body = srv:http("GET", "/metrics")
  assert.equal(200, status)
  return tonumber(body:match("\n" .. name .. " (%S+)"))
end

-- A close read in the same pass as a broadcast: the flush writes the close, which reports
-- it, and the close hooks queue to clients whose sends of that broadcast are in the batch.
local LEAVE_HUB = [[
local hub = require "luahub"
hub.config { io_uring = %q }
hub.handle(function(client, msg)
  if msg.data == "join" then client:join("a") client:join("b") client:send("joined") return end
  if msg.data == "go" then hub.broadcast("m1") end
end)
hub.on("after_room_leave", function(client, room, why)
  hub.to_room(room, "left " .. room .. " (" .. why .. ")")
end)
]]

for _, mode in ipairs { "auto", "off" } do
  describe("writes with io_uring = " .. mode, function()
    local srv, clients
    lazy_setup(function()
      srv = t.start(t.write_script(HUB:format(mode)))
      clients = {}
      for i = 1, CLIENTS do clients[i] = assert(srv:connect()) end
    end)
    lazy_teardown(t.cleanup)

    it("say in the log and in /metrics which way the flush writes", function()
      local line = assert(srv:wait_log("writes: [^\n]*"), srv:log())
      local ring = line:find("writes: io_uring", 1, true) ~= nil
      if mode == "off" then
        assert.truthy(line:find("writes: writev (io_uring = ", 1, true) and line:find("off", 1, true), line)
      else
        assert.truthy(ring or line:find("io_uring unavailable", 1, true), line)
      end
      assert.equal(ring and 1 or 0, metric(srv, "luahub_io_uring"))
    end)

    it("deliver a burst of small broadcasts in one pass to every client, in order", function()
      clients[1]:send("burst 500 64")
      read_burst(clients, 500, 64)
    end)

    -- one message alone in its pass goes to each idle client straight from the run's
    -- frame (conn_send_now); spec/c/fanout_batch_test.c checks a send the socket takes
    -- only part of
    it("deliver a lone broadcast larger than a socket takes at once, whole", function()
      -- new connections: their socket buffers have not grown yet
      local fresh = {}
      for i = 1, 5 do fresh[i] = assert(srv:connect()) end
      fresh[1]:send("burst 1 1000000")
      read_burst(fresh, 1, 1000000)
      read_burst(clients, 1, 1000000)
      for _, c in ipairs(fresh) do c:disconnect() end
      assert(t.eventually(function() return metric(srv, "luahub_connections") == CLIENTS end, { timeout = 10 }))
    end)

    it("deliver broadcasts larger than a socket takes at once, whole and in order", function()
      clients[1]:send("burst 6 1000000")
      read_burst(clients, 6, 1000000)
    end)

    it("keep each client's stream whole when close hooks the flush runs send to them", function()
      local hooked = t.start(t.write_script(LEAVE_HUB:format(mode)))
      local others = {}
      for i = 1, 3 do others[i] = assert(hooked:connect()) end
      local leaving = assert(hooked:connect())
      for _, c in ipairs { leaving, table.unpack(others) } do
        c:send("join")
        assert.equal("joined", c:receive())
      end
      -- the message and the close in one segment, so one pass reads both
      local wire = require "luahub.testing.wire"
      assert(leaving:send_raw(wire.encode_frame { opcode = 1, payload = "go" } ..
        wire.encode_frame { opcode = 8, payload = wire.close_payload(1000) }))
      for k, c in ipairs(others) do
        local got = {}
        for i = 1, 3 do got[i] = assert(c:receive(10)) end
        table.sort(got, function(x, y) return x < y end)
        assert.same({ "left a (disconnect)", "left b (disconnect)", "m1" }, got, "client " .. k)
        c:expect_silence(0.3)
      end
      assert.equal(200, (hooked:http("GET", "/metrics")))
    end)

    -- The ring keeps a table of the sockets it sent to; a closed client's socket must
    -- leave it (or it stays open, and a new client on the same descriptor would get
    -- the old one's bytes).
    it("close the sockets of clients that leave, and reach new clients on reused descriptors", function()
      local churn = t.start(t.write_script(([[
local hub = require "luahub"
hub.config { io_uring = %q }
hub.handle(function(client, msg)
  if msg.data == "bye" then client:close(1000, "bye") return end
  hub.broadcast(msg.data)
end)
]]):format(mode)))
      local first = {}
      for i = 1, 6 do first[i] = assert(churn:connect()) end
      first[1]:send("one")
      for _, c in ipairs(first) do assert.equal("one", c:receive(10)) end
      local fds = churn:open_fds()
      for i = 1, 3 do
        first[i]:send("bye")
        assert(first[i]:wait_tcp_close(10), "the server closed client " .. i .. "'s socket")
        first[i]:disconnect()
      end
      -- gone on the server too: their descriptors are free for the next accepts
      assert(t.eventually(function() return churn:open_fds() <= fds - 3 end, { timeout = 10 }), "descriptors freed")
      local second = {}
      for i = 1, 3 do second[i] = assert(churn:connect()) end
      second[1]:send("two")
      for _, c in ipairs(second) do assert.equal("two", c:receive(10)) end
      for i = 4, 6 do assert.equal("two", first[i]:receive(10)) end
      for _, c in ipairs(second) do c:expect_silence(0.2) end
      -- every socket the ring sent to leaves its table when the connection goes
      for i = 4, 6 do first[i]:disconnect() end
      for _, c in ipairs(second) do c:disconnect() end
      assert(t.eventually(function() return metric(churn, "luahub_connections") == 0 end, { timeout = 10 }))
      assert.equal(0, metric(churn, "luahub_io_uring_sockets"))
    end)

    it("deliver to a client that reads only after the others are done", function()
      clients[1]:send("burst 40 100000")
      read_burst({ table.unpack(clients, 2) }, 40, 100000)
      read_burst({ clients[1] }, 40, 100000)
      assert.equal(0, metric(srv, "luahub_send_queue_bytes"))
      local ring = srv:log():find("writes: io_uring", 1, true) ~= nil
      assert.equal(ring and 1 or 0, metric(srv, "luahub_io_uring"), "still the same way after the bursts")
    end)
  end)
end
