-- What one client can do to everyone else: each case here was found by attacking the
-- server, and each fails on the code before its fix.
local t = require "luahub.testing"
local hubs = require "support.hubs"

describe("a client flooding pings without reading the pongs", function()
  lazy_teardown(t.cleanup)

  it("is dropped, and every other client's pings are still answered", function()
    local srv = hubs.start_echo()
    local flooder = assert(srv:connect())
    flooder.auto_pong = false
    -- 100,000 pings of 125 bytes: 12.7 MB of pongs the flooder never reads
    local ping = t.encode_frame { opcode = 9, payload = string.rep("p", 125) }
    local burst = string.rep(ping, 1000)
    for _ = 1, 100 do
      if not flooder:send_raw(burst, 10) then break end   -- dropped mid-flood
    end
    assert.truthy(flooder:wait_tcp_close(10), "the flooder was not dropped")
    -- the wslay contexts that served the flood are not reused in a broken state: every
    -- later client, whichever pooled context it gets, has its pings answered
    for i = 1, 8 do
      local c = assert(srv:connect())
      c:ping("after " .. i)
      local frame = assert(c:receive_frame(3))
      assert.equal(10, frame.opcode)
      assert.equal("after " .. i, frame.payload)
      c:send("still " .. i)
      assert.equal("still " .. i, c:receive(3))
    end
    srv:stop()
  end)
end)

describe("a protocol error right behind a valid message", function()
  lazy_teardown(t.cleanup)

  -- one write each: a valid text message, then bytes that fail the connection
  for _, case in ipairs {
    { 1002, "a frame with the reserved opcode 3", t.encode_frame { opcode = 3, payload = "x" } },
    { 1007, "a text message that is not UTF-8", t.encode_frame { opcode = 1, payload = "\255\254" } },
  } do
    local code, what, bad = case[1], case[2], case[3]
    it(("closes with %d for %s, after the reply to the message before it"):format(code, what), function()
      local srv = hubs.start_echo()
      local c = assert(srv:connect())
      c:send_raw(t.encode_frame { opcode = 1, payload = "answer me" } .. bad)
      assert.equal("answer me", c:receive(3))
      c:expect_close(code, 3)
      srv:stop()
    end)
  end
end)

-- A raw client with a small receive buffer that reads at a set pace, so the server's
-- writes block and resume many times inside one large frame or response.
local socket = require "socket"

local function slow_socket(srv, request)
  local sock = socket.tcp4()
  assert(sock:setoption("recv-buffer-size", 16384))
  assert(sock:connect(srv.host, srv.port))
  assert(sock:send(request))
  return sock
end

-- Reads until want bytes arrived or the peer closed, in slices of `slice` bytes every
-- `pause` seconds, giving up at the deadline. Returns the bytes read.
local function read_slowly(sock, want, slice, pause, seconds)
  local parts, got, deadline = {}, 0, socket.gettime() + seconds
  while got < want and socket.gettime() < deadline do
    sock:settimeout(pause)
    local data, err, partial = sock:receive(slice)
    data = data or partial
    if data and #data > 0 then
      parts[#parts + 1] = data
      got = got + #data
    end
    if err == "closed" then break end
    socket.sleep(pause)
  end
  return table.concat(parts)
end

describe("a peer reading a large response slowly but steadily", function()
  lazy_teardown(t.cleanup)

  local BIG = 6 * 1024 * 1024

  it("gets a whole static file past handshake_timeout and write_timeout, and nothing leaks", function()
    local dir = t.tmpdir()
    t.write_file(dir .. "/big.bin", string.rep("0123456789abcdef", BIG / 16))
    local srv = t.start(t.write_script(hubs.ECHO), { static = dir, handshake_timeout = 0.3, write_timeout = 0.5 })
    local before = srv:open_fds()
    local sock = slow_socket(srv, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    -- about 4 MB/s: the response takes longer than either timeout, with progress all along
    local data = read_slowly(sock, BIG + 1024, 65536, 0.01, 20)
    sock:close()
    local body = data:match("\r\n\r\n(.*)$")
    assert.truthy(data:match("^HTTP/1.1 200 "), data:sub(1, 100))
    assert.equal(BIG, body and #body or -1)
    t.eventually(function() return srv:open_fds() == before end,
      { timeout = 5, message = "the server still holds the connection's descriptor" })
    srv:stop()
  end)

  it("gets a whole large WebSocket message past write_timeout", function()
    local srv = t.start(t.write_script [[
local hub = require "luahub"
hub.handle(function(client, msg) client:send(string.rep("x", tonumber(msg.data))) end)
]], { write_timeout = 1.5 })   -- under the transfer's 3 s, over a loaded machine's stalls
    local key = "dGhlIHNhbXBsZSBub25jZQ=="
    local sock = slow_socket(srv, "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" ..
      "Connection: Upgrade\r\nSec-WebSocket-Key: " .. key .. "\r\nSec-WebSocket-Version: 13\r\n\r\n")
    sock:settimeout(3)
    local head = {}
    repeat
      local line = assert(sock:receive("*l"))
      head[#head + 1] = line
    until line == ""
    assert.truthy(head[1]:match("^HTTP/1.1 101"), head[1])
    assert(sock:send(t.encode_frame { opcode = 1, payload = tostring(BIG) }))
    -- about 2 MB/s: seconds of steady progress inside one frame
    local data = read_slowly(sock, BIG + 10, 32768, 0.01, 20)
    sock:close()
    assert.equal(BIG + 10, #data)   -- header: 2 + 8 bytes for a 64-bit length
    srv:stop()
  end)
end)

describe("a large static file", function()
  lazy_teardown(t.cleanup)

  it("is streamed whole from the file, without the server holding it in memory", function()
    local dir = t.tmpdir()
    local size = 48 * 1024 * 1024
    assert(os.execute(("truncate -s %d '%s/huge.bin'"):format(size, dir)))
    local srv = t.start(t.write_script(hubs.ECHO), { static = dir })
    local before = srv:rss_kib()
    local sock = slow_socket(srv, "GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    local got, peak, head = 0, before, nil
    sock:settimeout(10)
    while true do
      local data, err, partial = sock:receive(1024 * 1024)
      data = data or partial
      if head == nil and data then
        head = data:match("^(.-\r\n\r\n)")
        got = got + #data - #head
      elseif data then
        got = got + #data
      end
      peak = math.max(peak, srv:rss_kib())
      if err then break end
    end
    sock:close()
    assert.truthy(head and head:match("^HTTP/1.1 200 ") and head:match("Content%-Length: " .. size), head)
    assert.equal(size, got)
    assert.is_true(peak - before < 8 * 1024, ("the server grew by %d KiB"):format(peak - before))
    srv:stop()
  end)
end)

describe("a client that stops reading", function()
  lazy_teardown(t.cleanup)

  it("gets a 1008 close after write_timeout, behind what it had already been sent", function()
    local srv = t.start(t.write_script [[
local hub = require "luahub"
hub.handle(function(client, msg)
  for i = 1, 2000 do client:send(("%06d"):format(i) .. string.rep("y", 65530)) end
end)
]], { write_timeout = 0.3, send_queue = { messages = 10000, bytes = 1e9 } })
    local c = assert(srv:connect())
    c:send("go")
    assert.truthy(srv:wait_log("write timeout", 5), srv:log())
    -- it starts reading again: the data already in the socket, then the close
    local last = 0
    while true do
      local data, err, code = c:receive(5)
      if not data then
        assert.equal("closed", err)
        assert.equal(1008, code)
        break
      end
      local seq = tonumber(data:sub(1, 6))
      assert.equal(last + 1, seq)
      last = seq
    end
    assert.is_true(last > 0 and last < 2000, "got " .. last .. " messages")
    srv:stop()
  end)
end)

describe("at the descriptor limit", function()
  lazy_teardown(t.cleanup)

  -- The server under `ulimit -n 96`: a wrapper script execs the real binary, so the PID
  -- the helpers signal is the server's.
  local function start_limited(nofile)
    local wrapper = t.tmpdir() .. "/luahub-limited"
    t.write_file(wrapper, ("#!/bin/sh\nulimit -n %d\nexec '%s' \"$@\"\n"):format(nofile, t.binary()))
    os.execute("chmod +x '" .. wrapper .. "'")
    return t.start(t.write_script(hubs.ECHO), nil, { binary = wrapper })
  end

  it("refuses new clients at once, keeps the ones it has, and keeps answering probes", function()
    local srv = start_limited(96)
    local clients, refused = {}, 0
    -- 96 descriptors, 32 kept in reserve: some 60 clients fit, the rest are refused at
    -- once with 503 (before the fix, the ones past the last descriptor hung in the
    -- accept queue and this loop timed out)
    for i = 1, 120 do
      local c, kind, status = srv:connect { timeout = 2 }
      if c then
        clients[#clients + 1] = c
      else
        assert.equal("http", kind, "connection " .. i .. " was not answered")
        assert.equal(503, status)
        refused = refused + 1
      end
    end
    -- (how many fit depends on the descriptors the server inherited from this process)
    assert.is_true(#clients >= 1 and refused >= 10, ("%d connected, %d refused"):format(#clients, refused))
    -- connections that hold descriptors without ever sending a request fill the reserve
    -- too; past the last descriptor each is closed at once rather than left hanging
    local idle = {}
    for i = 1, 40 do idle[i] = socket.tcp4(); idle[i]:settimeout(2); idle[i]:connect(srv.host, srv.port) end
    local status = srv:http("GET", "/healthz")
    if status ~= 200 then
      -- the reserve is full of idle sockets, which get one second to send a request
      t.eventually(function() return srv:http("GET", "/healthz") == 200 end,
        { timeout = 5, message = "/healthz did not answer at the descriptor limit" })
    end
    local _, _, metrics = srv:http("GET", "/metrics")
    assert.truthy(metrics:match('luahub_connections_refused_total{reason="capacity"} [1-9]'), metrics)
    for _, s in ipairs(idle) do s:close() end
    -- every client that got in is still served
    for i, c in ipairs(clients) do
      c:send("still " .. i)
      assert.equal("still " .. i, c:receive(3))
    end
    srv:stop()
  end)
end)

describe("partly sent messages", function()
  lazy_teardown(t.cleanup)

  it("are given message_timeout to arrive, then the connection is closed with 1008", function()
    local srv = hubs.start_echo { message_timeout = 0.5 }
    local c = assert(srv:connect())
    local other = assert(srv:connect())
    -- the first fragment of a message, then nothing more
    c:send_frame { opcode = 1, fin = false, payload = "begin" }
    c:expect_close(1008, 5)
    other:send("unaffected")
    assert.equal("unaffected", other:receive(3))
    srv:stop()
  end)

  it("together stay within limits.reassembly_bytes: the one that would pass it is closed with 1013", function()
    local srv = hubs.start_echo { limits = { reassembly_bytes = 1024 * 1024 } }
    local a, b = assert(srv:connect()), assert(srv:connect())
    local part = string.rep("a", 600 * 1024)
    -- a first fragment of 600 KiB each: the first fits, the second would pass 1 MiB
    a:send_frame { opcode = 1, fin = false, payload = part }
    a:ping("held")   -- its pong says the server has read the fragment before it
    assert.equal(10, assert(a:receive_frame(5)).opcode)
    b:send_frame { opcode = 1, fin = false, payload = part }
    b:expect_close(1013, 5)
    -- the first one completes its message and gets it back whole
    a:send_frame { opcode = 0, fin = true, payload = "z" }
    assert.equal(part .. "z", a:receive(5))
    srv:stop()
  end)
end)

describe("a broadcast with a long except list", function()
  lazy_teardown(t.cleanup)

  it("skips exactly the listed clients", function()
    local srv = t.start(t.write_script [[
local hub = require "luahub"
hub.handle(function(client, msg)
  if msg.data == "id" then return client:send(tostring(client.id)) end
  -- except: every other connected client, plus thousands of ids that match nobody
  local except = {}
  for i = 1, 5000 do except[#except + 1] = 1e12 + i end
  for id in msg.data:gmatch("%d+") do except[#except + 1] = tonumber(id) end
  hub.broadcast("hello", { except = except })
end)
]])
    local clients, ids = {}, {}
    for i = 1, 20 do
      clients[i] = assert(srv:connect())
      clients[i]:send("id")
      ids[i] = clients[i]:receive(3)
    end
    local skipped = {}
    for i = 1, 20, 2 do skipped[#skipped + 1] = ids[i] end
    clients[2]:send(table.concat(skipped, " "))
    for i = 2, 20, 2 do assert.equal("hello", clients[i]:receive(3)) end
    for i = 1, 20, 2 do
      local data, err = clients[i]:receive(0.2)
      assert.is_nil(data, "client " .. i .. " was on the except list but got " .. tostring(data))
      assert.equal("timeout", err)
    end
    srv:stop()
  end)
end)

describe("connections refused after before_connect gave them a user and metadata", function()
  lazy_teardown(t.cleanup)

  it("leave nothing behind", function()
    local srv = t.start(t.write_script [[
local hub = require "luahub"
hub.on("before_connect", function(req)
  return { user_id = "u" .. req.id, meta = { blob = string.rep("x", 20000) } }
end)
hub.on("before_connect", function(req) return false, 403, "no" end)
hub.handle(function() end)
]])
    local function heap()
      local _, _, body = srv:http("GET", "/metrics")
      return tonumber(body:match("\nluahub_heap_bytes (%d+)"))
    end
    for _ = 1, 20 do hubs.assert_refused(srv, nil, 403) end
    local before = heap()
    for _ = 1, 200 do hubs.assert_refused(srv, nil, 403) end
    -- 200 x 20 KB of metadata would be 4 MB
    local grown = heap() - before
    assert.is_true(grown < 1024 * 1024, ("the heap grew by %d bytes"):format(grown))
    srv:stop()
  end)
end)
