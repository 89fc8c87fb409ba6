--- scripts/soak.lua — the driver behind `make soak` (the Makefile builds the server,
-- scripts/soak.sh runs this and guards the server's PID; docs/operations.md "Soak").
--
-- Starts the ASan+UBSan server ($LUAHUB_BIN) on spec/soak/hub_a.lua and, for
-- SOAK_MINUTES, loads it from five forked processes at once while this one samples it:
--   stream     SOAK_READERS clients in room "stream" that read three numbered streams
--              (a WebSocket sender's, the publish API's to the room and to all) and
--              ping every few seconds: any gap, reordering, missing pong or close fails
--   publish    POST /api/publish to the room and to everyone, in turn
--   churn      connect, join, ping, send, close (three ways), at SOAK_CHURN_RATE
--   slow       clients that join the busy rooms and stop reading, fed by a flood sender:
--              the server's send queue policy and write timeout must drop each one
--   pingflood  rounds of 50,000 pings, pongs never read: a flooder with a 4 KiB receive
--              buffer must be dropped; one that the kernel buffers must still work after
--   (this one) SIGHUP with hub_a.lua and hub_b.lua in turn; every second /healthz (2 s),
--              RSS and open descriptors of the server
-- At the end, with every client gone: descriptors back to the start, RSS growth after
-- warm-up within its bound, SIGTERM ends the server with status 0 and its output holds
-- no sanitizer report. Prints a summary and "soak: PASS" or "soak: FAIL (...)"; exits 1
-- on failure. Files go to $SOAK_DIR (the roles' reports, the server's log).
--
-- The roles are forked (LuaJIT FFI) rather than started as new programs so that each
-- inherits the server handle of luahub.testing; a child leaves with _exit so that the
-- helper's cleanup, which stops servers, only ever runs in this process.

local t = require "luahub.testing"
local socket = require "socket"
local cjson = require "cjson"
local ffi = require "ffi"

ffi.cdef [[
int fork(void);
void _exit(int status);
int waitpid(int pid, int *status, int options);
int kill(int pid, int sig);
int getpid(void);
int getppid(void);
int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5);
]]

local now, sleep = socket.gettime, socket.sleep
local floor, max, min = math.floor, math.max, math.min
local format, rep = string.format, string.rep

local WNOHANG, SIGKILL, PR_SET_PDEATHSIG = 1, 9, 1

-- Settings -----------------------------------------------------------------------

local function setting(name, default, low, high)
  local text = os.getenv(name)
  local value = tonumber(text or default)
  if not value or value < low or value > high then
    error(format("%s must be a number from %s to %s (got %q)", name, low, high, text), 0)
  end
  return value
end

local MINUTES = setting("SOAK_MINUTES", 2, 0.1, 1440)
local DURATION = MINUTES * 60
local READERS = floor(setting("SOAK_READERS", 20, 1, 500))
local CHURN_RATE = setting("SOAK_CHURN_RATE", 200, 1, 2000)           -- connections/s
local RSS_GROWTH_MB = setting("SOAK_RSS_GROWTH_MB", 32, 1, 4096)
local OUT = assert(os.getenv("SOAK_DIR"), "SOAK_DIR is not set (run scripts/soak.sh)")

-- The loads next to the readers (all by default): a subset narrows down which one
-- breaks the server, e.g. SOAK_LOADS="churn slow".
local LOADS = { publish = true, churn = true, slow = true, pingflood = true }
local LOAD_ROLES, loading = {}, {}
for name in (os.getenv("SOAK_LOADS") or "publish churn slow pingflood"):gmatch("%S+") do
  if not LOADS[name] then
    error(format("SOAK_LOADS: unknown load %q (publish, churn, slow, pingflood)", name), 0)
  end
  LOAD_ROLES[#LOAD_ROLES + 1], loading[name] = name, true
end

-- Warm-up: allocator pools, the Lua heap and the ASan quarantine fill during the first
-- quarter of the run (at most 5 minutes); RSS growth is measured from its end.
local WARMUP = min(DURATION / 4, 300)
local SAMPLE_EVERY = 1            -- seconds between /healthz, RSS and fd samples
local HEALTH_TIMEOUT = 2          -- /healthz must answer within this
local RELOAD_EVERY = 5            -- seconds between SIGHUPs
local RELOAD_TIMEOUT = 5          -- a SIGHUP must show in luahub_reloads_total by then
local FD_SLACK = 4                -- descriptors the server may hold above its start count
local SETTLE_TIMEOUT = 15         -- after the load: clients gone, descriptors back
local FINAL_WAIT = 20             -- after the load: readers wait this for last messages
local ROLE_GRACE = 60             -- after the load: a role not done by then is killed
local IO_TIMEOUT = 5              -- any single client operation

local STREAM_RATE = 50            -- WebSocket sender messages/s to room "stream"
local PUBLISH_RATE = 10           -- publish calls/s, room and everyone in turn
local PING_EVERY = 5              -- each reader pings this often ...
local PONG_DEADLINE = 5           -- ... and wants the pong within this
local CHURN_OPEN = 16             -- churn clients open at once (room "churn" fans out)
local SLOW_READERS = 4            -- stalled clients at any time
local SLOW_STALL = 20             -- seconds a slow reader reads nothing, then must be gone
local FLOODER_GRACE = 5           -- past write_timeout, for a ping flooder to be gone
local FLOOD_RATE = 100            -- flood messages/s to room "flood" ...
local FLOOD_BYTES = 16384         -- ... of this size: 1.6 MB/s to each slow reader
local PINGS_PER_ROUND = 50000     -- pings a flood round sends ...
local PING_BATCH = 1000           -- ... written this many at a time ...
local PING_PAYLOAD = 125          -- ... each with the largest control payload
local PING_PAUSE = 1              -- seconds between rounds

local STREAMS = loading.publish and { "ws", "api-room", "api-all" } or { "ws" }
local API_KEY = t.base64(t.random_bytes(18))

-- The soak's policy, passed as --config so it holds across both scripts and every
-- reload. Keepalive every 5 s so pings and pong timeouts run many times in a short soak;
-- a full queue closes the client (1008) and a peer taking nothing for 5 s is dropped.
local SERVER_CONFIG = {
  api_key = API_KEY,
  ping_interval = 5,
  pong_timeout = 15,
  write_timeout = 5,
  send_queue = { messages = 1024, bytes = 1048576, policy = "close" },
}

-- A smaller quarantine than ASan's 256 MB, so that it fills during the warm-up and RSS
-- after it shows growth of live memory; use-after-free is still caught for the last
-- 32 MB freed. Leaks are checked at exit.
local SANITIZER_ENV = {
  ASAN_OPTIONS = "detect_leaks=1:quarantine_size_mb=32:malloc_context_size=20",
  UBSAN_OPTIONS = "print_stacktrace=1:halt_on_error=1",
}

-- Reports ------------------------------------------------------------------------

-- A report holds a role's counters and its failures by category; only the first few
-- messages of each category are kept, every one is counted.
local KEEP_MESSAGES = 5

local function new_report(role)
  return { role = role, counts = {}, failures = {}, failure_counts = {} }
end

local function count(report, name, n)
  report.counts[name] = (report.counts[name] or 0) + (n or 1)
end

local function fail(report, category, fmt, ...)
  local seen = (report.failure_counts[category] or 0) + 1
  report.failure_counts[category] = seen
  if seen <= KEEP_MESSAGES then
    report.failures[#report.failures + 1] = { category = category, message = format(fmt, ...) }
  end
end

local function report_path(role) return OUT .. "/" .. role .. ".json" end

-- Pacing ----------------------------------------------------------------------------

-- Ticks of a fixed rate; a pacer that fell behind skips ahead rather than bursting
-- more than one second's worth.
local Pacer = {}
Pacer.__index = Pacer

local function pacer(rate)
  return setmetatable({ interval = 1 / rate, next_at = now() }, Pacer)
end

function Pacer:due()
  local t_now = now()
  if t_now < self.next_at then return false end
  self.next_at = max(self.next_at + self.interval, t_now - 1)
  return true
end

function Pacer:wait(until_time)
  local delay = min(self.next_at, until_time) - now()
  if delay > 0 then sleep(delay) end
  return self:due()
end

-- Clients --------------------------------------------------------------------------

-- luahub.testing keeps every client a server handle connected so stop() can drop them;
-- roles never stop the server and churn through thousands of clients, so each forgets
-- them (the clients stay usable).
local function connect(srv)
  local c, err, status = srv:connect { timeout = IO_TIMEOUT }
  srv.clients = {}
  if not c then return nil, status and format("%s %s", err, status) or err end
  return c
end

-- Sends "join ROOM" and waits for "joined ROOM", skipping other messages.
local function join(c, room)
  local ok, err = c:send("join " .. room)
  if not ok then return nil, "sending join: " .. tostring(err) end
  local deadline = now() + IO_TIMEOUT
  while true do
    local data, rerr, code = c:receive(max(0, deadline - now()))
    if data == "joined " .. room then return true end
    if data and data:match("^error ") then return nil, data end
    if not data then return nil, format("waiting for joined %s: %s %s", room, rerr, tostring(code or "")) end
  end
end

local function connect_and_join(srv, rooms)
  local c, err = connect(srv)
  if not c then return nil, "connect: " .. tostring(err) end
  for _, room in ipairs(rooms) do
    local ok, jerr = join(c, room)
    if not ok then
      c:disconnect()
      return nil, jerr
    end
  end
  return c
end

-- Reads every message already arrived, handing each to on_message. Returns nil while
-- the connection is open, else "closed" | "protocol_error" and the close code or detail.
local function drain(c, on_message)
  while true do
    local data, err, detail = c:receive(0)
    if data then
      on_message(data)
    elseif err == "timeout" then
      return nil
    else
      return err, detail
    end
  end
end

-- Waits for the pong carrying payload, reading raw frames. Returns seconds or nil, err.
local function await_pong(c, payload, sent_at)
  local deadline = sent_at + PONG_DEADLINE
  while true do
    local frame, err = c:receive_frame(max(0, deadline - now()))
    if not frame then return nil, err end
    if frame.opcode == 10 and frame.payload == payload then return now() - sent_at end
    if frame.opcode == 8 then return nil, "closed" end
  end
end

-- Whether the server still has a member in room, from GET /api/stats. A client that
-- reads nothing joins a room of its own, so this shows whether the server dropped it:
-- reading the socket would not, since a dropped client's last bytes may take a long
-- time to leave the server's kernel (the sender backs off on a full receive window).
local function room_exists(srv, room)
  local status, headers_or_err, body = srv:http("GET", "/api/stats", { Authorization = "Bearer " .. API_KEY },
                                                nil, IO_TIMEOUT)
  if status ~= 200 then return nil, "GET /api/stats: " .. tostring(status or headers_or_err) end
  local stats = cjson.decode(body)
  return stats.rooms[room] ~= nil
end

-- Polls room_exists until the room is gone or the deadline. Returns true when gone,
-- false when still there, nil and an error when /api/stats failed.
local function dropped_by(srv, room, deadline)
  while true do
    local exists, err = room_exists(srv, room)
    if exists == nil then return nil, err end
    if not exists then return true end
    if now() >= deadline then return false end
    sleep(0.5)
  end
end

local function publish(srv, body)
  return srv:http("POST", "/api/publish",
                  { Authorization = "Bearer " .. API_KEY, ["Content-Type"] = "application/json" },
                  cjson.encode(body), IO_TIMEOUT)
end

-- Roles (each runs in its own process until load_end) -------------------------------------

local roles = {}

-- Readers check each stream message "stream NAME SEQ" (SEQ from 1 up, the final one
-- suffixed " last") arrives exactly once and in order.
local function reader_message(r, data, report)
  local stream, seq, rest = data:match("^stream (%S+) (%d+)(.*)$")
  if not stream then
    -- a reader is sent stream messages only, to its room and to everyone
    fail(report, "stream", "%s: unexpected message %q", r.name, data:sub(1, 60))
    return
  end
  seq = tonumber(seq)
  local expected = r.next[stream]
  if not expected then
    fail(report, "stream", "%s: unknown stream %q", r.name, stream)
    return
  end
  count(report, "delivered")
  if seq > expected then
    count(report, "lost", seq - expected)
    fail(report, "stream", "%s: stream %s jumped from %d to %d (%d lost)",
         r.name, stream, expected, seq, seq - expected)
  elseif seq < expected then
    count(report, "out_of_order")
    fail(report, "stream", "%s: stream %s went back to %d when %d was due (reordered or repeated)",
         r.name, stream, seq, expected)
  end
  r.next[stream] = max(expected, seq + 1)
  if rest == " last" then r.done[stream] = true end
end

local function reader_done(r)
  if r.closed then return true end
  for _, s in ipairs(STREAMS) do if not r.done[s] then return false end end
  return true
end

function roles.stream(srv, report, load_end)
  local readers, by_sock = {}, {}
  for i = 1, READERS do
    local c = assert(connect_and_join(srv, { "stream" }))
    local r = { name = "reader " .. i, client = c, next = {}, done = {},
                next_ping = now() + PING_EVERY * i / READERS, pings = 0 }
    for _, s in ipairs(STREAMS) do r.next[s] = 1 end
    readers[i], by_sock[c.sock] = r, r
  end
  local sender = assert(connect_and_join(srv, { "stream" }))
  t.write_file(OUT .. "/stream.ready", "")

  local on_message = {}
  for _, r in ipairs(readers) do
    on_message[r] = function(data) reader_message(r, data, report) end
  end
  local function ignore() end

  local pace, seq, sender_open, last_sent, sender_failed = pacer(STREAM_RATE), 0, true, false, false
  local socks = { sender.sock }
  for _, r in ipairs(readers) do socks[#socks + 1] = r.client.sock end
  local final_deadline = load_end + FINAL_WAIT

  while now() < final_deadline do
    local t_now = now()
    if sender_open and t_now < load_end then
      while pace:due() do
        seq = seq + 1
        if not sender:send("stream ws " .. seq) then sender_open = false break end
      end
    elseif sender_open and not last_sent then
      seq, last_sent = seq + 1, true
      sender_open = sender:send("stream ws " .. seq .. " last") ~= nil
    end
    if not sender_open and not sender_failed then
      sender_failed = true
      fail(report, "stream", "the WebSocket sender lost its connection after %d messages", seq)
    end

    local readable = socket.select(socks, nil, 0.01)
    for _, sock in ipairs(readable) do
      local r = by_sock[sock]
      if r then
        local err, detail = drain(r.client, on_message[r])
        if err then
          r.closed = true
          fail(report, "reader closed", "%s: connection ended (%s %s)", r.name, err, tostring(detail))
        end
      elseif sock == sender.sock and drain(sender, ignore) then
        sender_open = false
      end
    end
    socks = { sender.sock }
    for _, r in ipairs(readers) do if not r.closed then socks[#socks + 1] = r.client.sock end end

    t_now = now()
    local all_done = true
    for _, r in ipairs(readers) do
      local c = r.client
      if r.ping_payload then
        for _, frame in ipairs(c.control) do
          if frame.opcode == 10 and frame.payload == r.ping_payload then
            report.counts.pong_max_seconds = max(report.counts.pong_max_seconds or 0, t_now - r.ping_at)
            count(report, "pongs")
            r.ping_payload = nil
          end
        end
        if r.ping_payload and t_now - r.ping_at > PONG_DEADLINE then
          fail(report, "pong", "%s: no pong to %q within %ds", r.name, r.ping_payload, PONG_DEADLINE)
          r.ping_payload = nil
        end
      end
      if #c.control > 0 then c.control = {} end
      if not r.closed and not r.ping_payload and t_now >= r.next_ping and t_now < load_end then
        r.pings = r.pings + 1
        r.ping_payload, r.ping_at, r.next_ping = r.name .. " #" .. r.pings, t_now, t_now + PING_EVERY
        c:ping(r.ping_payload)
        count(report, "pings")
      end
      all_done = all_done and reader_done(r)
    end
    if all_done and last_sent then break end
  end

  for _, r in ipairs(readers) do
    for _, s in ipairs(STREAMS) do
      if not r.closed and not r.done[s] then
        fail(report, "stream", "%s: stream %s: the last message never came (%d was due)", r.name, s, r.next[s])
      end
    end
    if not r.closed then
      r.client:close(1000)
      local ok, err = r.client:check_close(1000, IO_TIMEOUT)
      if not ok then fail(report, "reader closed", "%s: closing: %s", r.name, err) end
    end
  end
  sender:close(1000)
  sender:check_close(1000, IO_TIMEOUT)
  report.counts.readers = READERS
  report.counts.ws_sent = seq
end

function roles.publish(srv, report, load_end)
  local pace, seq = pacer(PUBLISH_RATE), { room = 0, all = 0 }
  local function call(target, last)
    seq[target] = seq[target] + 1
    local stream = target == "room" and "api-room" or "api-all"
    local body = { data = format("stream %s %d%s", stream, seq[target], last and " last" or "") }
    if target == "room" then body.room = "stream" else body.broadcast = true end
    local status, headers_or_err, answer = publish(srv, body)
    count(report, "calls")
    count(report, "calls_" .. target)
    if status ~= 200 then
      fail(report, "publish", "%s %d: %s %s", stream, seq[target], tostring(status or headers_or_err),
           status and tostring(answer):sub(1, 80) or "")
      return
    end
    local delivered = (cjson.decode(answer) or {}).delivered or 0
    if delivered < READERS then
      fail(report, "publish", "%s %d delivered to %d clients, fewer than the %d readers",
           stream, seq[target], delivered, READERS)
    end
  end
  local target = "room"
  while now() < load_end do
    if pace:wait(load_end) then
      call(target)
      target = target == "room" and "all" or "room"
    end
  end
  call("room", true)
  call("all", true)
end

-- Ends a churn client one of three ways: a full close handshake, a close frame and
-- gone, or TCP dropped with whatever it had not read.
local function end_churn_client(c, way, report)
  if way == 0 then
    c:close(1000)
    local ok, err = c:check_close(1000, IO_TIMEOUT)
    if not ok then fail(report, "churn", "close handshake: %s", err) end
  elseif way == 1 then
    c:close(1001)
    c:disconnect()
  else
    c:disconnect()
  end
end

-- After a missing pong, churn checks no pongs for PONG_DEADLINE * 2 so that waiting for
-- pongs that do not come does not stop the churn.
function roles.churn(srv, report, load_end)
  local pace, open, n, check_pongs_from = pacer(CHURN_RATE), {}, 0, 0
  while now() < load_end do
    if pace:wait(load_end) then
      n = n + 1
      local c, err = connect_and_join(srv, { "churn" })
      if not c then
        fail(report, "churn", "connection %d: %s", n, err)
      else
        if now() >= check_pongs_from then
          local payload = "churn " .. n
          local sent_at = now()
          c:ping(payload)
          count(report, "pings")
          local _, perr = await_pong(c, payload, sent_at)
          if perr then
            check_pongs_from = now() + PONG_DEADLINE * 2
            fail(report, "pong", "churn connection %d: no pong within %ds (%s)", n, PONG_DEADLINE, perr)
          end
        end
        c:send("churn hello " .. n)
        open[#open + 1] = c
        count(report, "churned")
        if #open > CHURN_OPEN then end_churn_client(table.remove(open, 1), n % 3, report) end
      end
    end
  end
  for i, c in ipairs(open) do end_churn_client(c, i % 3, report) end
end

function roles.slow(srv, report, load_end)
  local flood = assert(connect_and_join(srv, { "flood" }))
  local filler = rep("x", FLOOD_BYTES)
  local pace, n, stalled, opened = pacer(FLOOD_RATE), 0, {}, 0
  local function ignore() end
  while now() < load_end do
    while #stalled < SLOW_READERS and now() < load_end do
      opened = opened + 1
      local own_room = "slow-" .. opened
      local c, err = connect_and_join(srv, { "stream", "flood", own_room })
      if not c then
        fail(report, "slow reader", "connecting: %s", err)
        break
      end
      stalled[#stalled + 1] = { client = c, since = now(), room = own_room }
      count(report, "stalled")
    end
    while pace:due() do
      n = n + 1
      if not flood:send("flood " .. n .. " " .. filler) then
        error("the flood sender lost its connection after " .. n .. " messages")
      end
    end
    if drain(flood, ignore) then error("the flood sender's connection ended") end
    for i = #stalled, 1, -1 do
      local s = stalled[i]
      if now() - s.since >= SLOW_STALL then
        table.remove(stalled, i)
        local dropped, err = dropped_by(srv, s.room, now())
        if dropped then
          count(report, "dropped")
        else
          fail(report, "slow reader", "%s: %s", s.room,
               err or format("still connected after reading nothing for %ds", SLOW_STALL))
        end
        s.client:disconnect()
      end
    end
    socket.select({ flood.sock }, nil, 0.01)
  end
  -- those stalled for less than SLOW_STALL are not judged
  for _, s in ipairs(stalled) do s.client:disconnect() end
  flood:close(1000)
  flood:check_close(1000, IO_TIMEOUT)
  report.counts.flood_messages = n
end

-- Rounds alternate between a flooder with a 4 KiB receive buffer, whose pongs back up
-- into the server (its write timeout must drop it), and one with the kernel's default
-- buffer, which takes every pong: its connection must still work after the flood.
function roles.pingflood(srv, report, load_end)
  local ping = t.encode_frame { opcode = 9, payload = rep("p", PING_PAYLOAD), mask_key = "soak" }
  local batch = rep(ping, PING_BATCH)
  -- the round's final ping is told apart by its payload: its pong ends the round
  local final_batch = rep(ping, PING_BATCH - 1) .. t.encode_frame { opcode = 9, payload = "last", mask_key = "soak" }
  local round = 0
  while now() < load_end do
    round = round + 1
    local small_buffer = round % 2 == 1
    local own_room = "flooder-" .. round
    local c, err = connect_and_join(srv, { own_room })
    if not c then
      fail(report, "ping flood", "connect: %s", err)
    else
      if small_buffer then c.sock:setoption("recv-buffer-size", 4096) end
      count(report, "rounds")
      local outcome = "completed"
      for i = 1, PINGS_PER_ROUND / PING_BATCH do
        local ok, serr = c:send_raw(i == PINGS_PER_ROUND / PING_BATCH and final_batch or batch, IO_TIMEOUT)
        if not ok then
          -- the server stopped reading (timeout) or closed us: both are its right
          outcome = serr == "timeout" and "stalled" or "closed"
          break
        end
        count(report, "pings", PING_BATCH)
      end
      count(report, "rounds_" .. outcome)
      if small_buffer then
        local dropped, derr = dropped_by(srv, own_room, now() + SERVER_CONFIG.write_timeout + FLOODER_GRACE)
        if dropped then
          count(report, "flooders_dropped")
        else
          fail(report, "ping flood", "round %d: %s", round,
               derr or format("a flooder that read nothing for %ds is still connected",
                              SERVER_CONFIG.write_timeout + FLOODER_GRACE))
        end
      elseif outcome == "completed" then
        local _, perr = await_pong(c, "last", now())
        local joined, jerr = perr == nil and join(c, "pingflood")
        if not joined then
          fail(report, "ping flood", "round %d: after %d pings the connection is broken: %s",
               round, PINGS_PER_ROUND, perr and ("no pong to the last ping (" .. perr .. ")") or jerr)
        end
      end
      c:disconnect()
    end
    sleep(max(0, min(PING_PAUSE, load_end - now())))
  end
end

-- Processes --------------------------------------------------------------------------

-- Forks a role. The child writes its report to OUT/ROLE.json and leaves with _exit; it
-- is killed with this process, whose end (even by SIGKILL) leaves no load running.
local function spawn(name, srv, load_end)
  io.stdout:flush()
  io.stderr:flush()
  local parent = ffi.C.getpid()
  local pid = ffi.C.fork()
  assert(pid >= 0, "fork failed")
  if pid > 0 then return pid end
  ffi.C.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
  if ffi.C.getppid() ~= parent then ffi.C._exit(1) end
  math.randomseed(ffi.C.getpid() * 7919 + floor(now() * 1000) % 7919)
  local report = new_report(name)
  local ok, err = xpcall(roles[name], debug.traceback, srv, report, load_end)
  if not ok then fail(report, "driver", "%s: %s", name, err) end
  t.write_file(report_path(name), cjson.encode(report))
  ffi.C._exit(0)
end

-- Exit status of pid if it has exited ("exit N" / "signal N"), else nil.
local function reap(pid)
  local status = ffi.new("int[1]")
  if ffi.C.waitpid(pid, status, WNOHANG) ~= pid then return nil end
  local s = status[0]
  if s % 128 == 0 then return "exit " .. floor(s / 256) % 256 end
  return "signal " .. s % 128
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("*a")
  f:close()
  return data
end

-- Server samples ------------------------------------------------------------------------

local function rss_mb(pid)
  local kb = (read_file("/proc/" .. pid .. "/status") or ""):match("VmRSS:%s*(%d+)")
  return kb and tonumber(kb) / 1024
end

local function open_fds(pid)
  local p = io.popen("ls -U /proc/" .. pid .. "/fd 2>/dev/null | wc -l")
  local n = tonumber(p:read("*a"))
  p:close()
  return n
end

-- Value of one Prometheus series (name with its labels, as printed) or nil.
local function metric(text, series)
  local escaped = series:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?{}]", "%%%0")
  return tonumber(text:match("\n" .. escaped .. " (%S+)") or text:match("^" .. escaped .. " (%S+)"))
end

local function metrics_text(srv)
  local status, _, body = srv:http("GET", "/metrics", nil, nil, IO_TIMEOUT)
  return status == 200 and body or ""
end

local SANITIZER_PATTERNS = { "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                             "SUMMARY: %a+Sanitizer" }

local function sanitizer_report(log)
  for _, pattern in ipairs(SANITIZER_PATTERNS) do
    local at = log:find(pattern)
    if at then
      local first = select(2, log:sub(1, at):find(".*\n")) or 0
      return log:sub(first + 1, first + 3000)
    end
  end
end

-- The conductor ---------------------------------------------------------------------------

local function main()
  local report = new_report("conductor")
  local source = assert(read_file("spec/soak/hub_a.lua"), "run from the repository root")
  local script = t.write_script(source)
  -- reload n serves variants[n % 2 + 1]: hub_b.lua first, then hub_a.lua again
  local variants = { script, "spec/soak/hub_b.lua" }

  local srv = t.start(script, SERVER_CONFIG, { env = SANITIZER_ENV, timeout = 30 })
  t.write_file(OUT .. "/server.pid", tostring(srv.pid))
  local started = now()
  local fds_start = open_fds(srv.pid)
  local rss_start = rss_mb(srv.pid)
  print(format("soak: %s min against %s (pid %d, %s:%d), reports in %s",
               MINUTES, t.binary(), srv.pid, srv.host, srv.port, OUT))

  local load_start = now()
  local load_end = load_start + DURATION
  local children, exits = {}, {}
  local function exited(name)
    exits[name] = exits[name] or reap(children[name])
    return exits[name]
  end
  children.stream = spawn("stream", srv, load_end)
  local ready_by = now() + 30
  while not read_file(OUT .. "/stream.ready") and now() < ready_by and not exited("stream") do
    sleep(0.05)
  end
  if not read_file(OUT .. "/stream.ready") then
    fail(report, "driver", "the readers were not connected within 30 s")
  end
  for _, name in ipairs(LOAD_ROLES) do
    children[name] = spawn(name, srv, load_end)
  end

  local samples, health_slowest = 0, 0
  local rss_peak, rss_warm, rss_load_end = rss_start, nil, rss_start
  local reloads, next_reload, next_sample, next_progress = 0, now() + RELOAD_EVERY, now(), now() + 30
  local server_dead = false
  local hard_end = load_end + ROLE_GRACE

  while true do
    local t_now = now()
    local pending = 0
    for name in pairs(children) do
      if not exited(name) then pending = pending + 1 end
    end
    if pending == 0 or t_now >= hard_end then break end
    if not srv:is_running() then
      server_dead = true
      fail(report, "server", "the server exited (status %s) %.0f s into the run", tostring(srv.exit_status),
           t_now - load_start)
      break
    end
    if t_now >= next_sample then
      next_sample = max(next_sample + SAMPLE_EVERY, t_now)
      local asked = now()
      local status, err = srv:http("GET", "/healthz", nil, nil, HEALTH_TIMEOUT)
      local took = now() - asked
      samples, health_slowest = samples + 1, max(health_slowest, took)
      if status ~= 200 then
        fail(report, "health", "/healthz %.0f s into the run: %s after %.2f s", asked - load_start,
             tostring(status or err), took)
      end
      local rss = rss_mb(srv.pid)
      if rss then
        rss_peak = max(rss_peak, rss)
        if asked < load_end then rss_load_end = rss end
        if not rss_warm and asked >= load_start + WARMUP then rss_warm = rss end
      end
      if t_now >= next_progress then
        next_progress = next_progress + 30
        print(format("soak: %3.0f s  RSS %.1f MB  fds %s  /healthz slowest %.3f s  reloads %d",
                     t_now - load_start, rss or -1, tostring(open_fds(srv.pid)), health_slowest, reloads))
      end
    end
    if t_now >= next_reload and t_now < load_end then
      next_reload = next_reload + RELOAD_EVERY
      reloads = reloads + 1
      -- srv:reload returns once the server counted it: true, false (refused), or raises
      local reported, applied = pcall(srv.reload, srv, variants[reloads % 2 + 1], RELOAD_TIMEOUT)
      if not (reported and applied) then
        fail(report, "reload", "reload %d did not show as ok within %d s", reloads, RELOAD_TIMEOUT)
      end
    end
    sleep(0.02)
  end

  for name, pid in pairs(children) do
    if not exits[name] then
      ffi.C.kill(pid, SIGKILL)
      ffi.C.waitpid(pid, nil, 0)
      if not server_dead then fail(report, "driver", "%s did not finish within %d s of the end", name, ROLE_GRACE) end
    end
  end

  local reports = { report }
  for name in pairs(children) do
    local r = cjson.decode(read_file(report_path(name)) or "null")
    if r then
      reports[#reports + 1] = r
    elseif not server_dead then
      fail(report, "driver", "%s left no report (%s)", name, tostring(exits[name]))
    end
  end

  local fds_end, metrics, exit_status, sanitizer = nil, "", nil, nil
  if not server_dead then
    -- every client is gone; closes may linger up to 2 s on the server
    local settle_by = now() + SETTLE_TIMEOUT
    repeat
      metrics = metrics_text(srv)
      fds_end = open_fds(srv.pid)
      local settled = metric(metrics, "luahub_connections") == 0 and fds_end <= fds_start + FD_SLACK
      if not settled then sleep(0.2) end
    until settled or now() >= settle_by
    if metric(metrics, "luahub_connections") ~= 0 then
      fail(report, "leak", "%s WebSocket connections still open on the server after every client left",
           tostring(metric(metrics, "luahub_connections")))
    end
    if fds_end > fds_start + FD_SLACK then
      fail(report, "leak", "the server holds %d descriptors after the load, %d at the start (bound +%d)",
           fds_end, fds_start, FD_SLACK)
    end
    if not rss_warm then
      fail(report, "driver", "no RSS sample after the warm-up")
    elseif rss_load_end - rss_warm > RSS_GROWTH_MB then
      fail(report, "leak", "RSS grew %.1f MB after the warm-up (%.1f -> %.1f MB; bound %d MB)",
           rss_load_end - rss_warm, rss_warm, rss_load_end, RSS_GROWTH_MB)
    end
    local ok_reloads = metric(metrics, 'luahub_reloads_total{result="ok"}') or 0
    local failed_reloads = metric(metrics, 'luahub_reloads_total{result="failed"}') or 0
    if failed_reloads > 0 or ok_reloads ~= reloads then
      fail(report, "reload", "%d SIGHUPs sent, the server counts %d ok and %d failed", reloads, ok_reloads, failed_reloads)
    end
    exit_status = srv:stop(15)
    if exit_status ~= 0 then fail(report, "server", "exit status %s after SIGTERM (want 0)", tostring(exit_status)) end
  end
  local log = srv:log()
  t.write_file(OUT .. "/luahub.log", log)
  sanitizer = sanitizer_report(log)
  if sanitizer then fail(report, "sanitizer", "the server's output holds a sanitizer report (below)") end
  os.remove(OUT .. "/server.pid")

  -- Summary ----------------------------------------------------------------------------
  local by_role, failure_counts, failures = {}, {}, {}
  for _, r in ipairs(reports) do
    by_role[r.role] = r.counts
    for category, n in pairs(r.failure_counts) do failure_counts[category] = (failure_counts[category] or 0) + n end
    for _, f in ipairs(r.failures) do failures[#failures + 1] = format("  %s [%s] %s", r.role, f.category, f.message) end
  end
  local function n(role, key) return (by_role[role] or {})[key] or 0 end
  print(format("soak: summary after %.1f min of load (%.1f min in all)", DURATION / 60, (now() - started) / 60))
  print(format("  churn         %d connections (%.0f/s), each joined, sent and closed; %d of them pinged",
               n("churn", "churned"), n("churn", "churned") / DURATION, n("churn", "pings")))
  print(format("  readers       %d clients: %d messages delivered of %d sent to them (%d on the WebSocket, %d published), %d lost, %d out of order; %d pongs to %d pings (slowest %.3f s)",
               n("stream", "readers"), n("stream", "delivered"),
               n("stream", "readers") * (n("stream", "ws_sent") + n("publish", "calls")),
               n("stream", "ws_sent"), n("publish", "calls"), n("stream", "lost"), n("stream", "out_of_order"),
               n("stream", "pongs"), n("stream", "pings"), n("stream", "pong_max_seconds")))
  print(format("  slow readers  %d stalled, %d dropped by the server (server: %s messages dropped by queue-full closes, %s write timeouts); %d flood messages of %d bytes",
               n("slow", "stalled"), n("slow", "dropped"),
               tostring(metric(metrics, 'luahub_messages_dropped_total{policy="close"}')),
               tostring(metric(metrics, 'luahub_errors_total{type="write_timeout"}')),
               n("slow", "flood_messages"), FLOOD_BYTES))
  print(format("  ping floods   %d pings in %d rounds (sent whole %d, cut by the server %d, stalled %d); %d 4 KiB-buffer flooders dropped; pong timeouts %s",
               n("pingflood", "pings"), n("pingflood", "rounds"), n("pingflood", "rounds_completed"),
               n("pingflood", "rounds_closed"), n("pingflood", "rounds_stalled"), n("pingflood", "flooders_dropped"),
               tostring(metric(metrics, 'luahub_errors_total{type="pong_timeout"}'))))
  print(format("  reloads       %d SIGHUPs (hub_a.lua and hub_b.lua in turn)", reloads))
  print(format("  publish       %d calls (%d to room stream, %d to all)", n("publish", "calls"),
               n("publish", "calls_room"), n("publish", "calls_all")))
  print(format("  health        %d samples, slowest /healthz %.3f s (limit %d s)", samples, health_slowest, HEALTH_TIMEOUT))
  print(format("  memory        RSS %.1f MB at start, %s after the %.0f s warm-up, %.1f MB at the end of the load, peak %.1f MB (growth bound %d MB)",
               rss_start, rss_warm and format("%.1f MB", rss_warm) or "-", WARMUP, rss_load_end, rss_peak, RSS_GROWTH_MB))
  print(format("  descriptors   %d at start, %s at the end (bound +%d)", fds_start, tostring(fds_end), FD_SLACK))
  print(format("  server        %s; connections accepted %s; log %s/luahub.log",
               server_dead and "died" or ("exit status " .. tostring(exit_status) .. " after SIGTERM"),
               tostring(metric(metrics, "luahub_connections_total")), OUT))
  if #failures > 0 then
    print("  failures (the first " .. KEEP_MESSAGES .. " of each kind per role):")
    print(table.concat(failures, "\n"))
  end
  if sanitizer then print("  sanitizer report:\n" .. sanitizer) end
  local categories = {}
  for category, count_of in pairs(failure_counts) do categories[#categories + 1] = format("%s: %d", category, count_of) end
  table.sort(categories)
  t.cleanup()
  if #categories == 0 then
    print("soak: PASS")
    return true
  end
  print("soak: FAIL (" .. table.concat(categories, ", ") .. ")")
  return false
end

os.exit(main() and 0 or 1)
