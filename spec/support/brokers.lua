-- Real brokers for the cluster specs: redis-server and nats-server started on free
-- loopback ports with nothing persisted, stopped by PID, and asked (over their own
-- protocols) which channels have subscribers.
local http = require "luahub.testing.http"
local socket = require "socket"
local cjson = require "cjson"
local t = require "luahub.testing"
local tools = require "support.tools"

local M = {}

local BINARIES = { redis = "redis-server", nats = "nats-server" }

local function quote(s) return "'" .. tostring(s):gsub("'", [['\'']]) .. "'" end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

--- Raises, saying how to install it, unless the broker's binary is installed.
function M.need(kind)
  tools.need_command(BINARIES[kind], BINARIES[kind])
end

local Broker = {}
Broker.__index = Broker

local function listening(port) return http.listening("127.0.0.1", port) end

--- Starts a broker of kind ("redis" | "nats"), on `port` when given (a restart on the
-- same port), else on a free one. opts.password: Redis requirepass; opts.args: more
-- arguments (cluster settings); opts.dir: its directory (a restart keeps its files);
-- opts.jetstream: NATS with JetStream, its store under that directory (so a restart
-- without opts.dir is a server that lost its data). Raises with the broker's log if it
-- does not listen.
function M.start(kind, port, monitor_port, opts)
  local dir = opts and opts.dir or t.tmpdir()
  local b = setmetatable({ kind = kind, port = port or t.free_port(), dir = dir,
                           password = opts and opts.password,
                           log_path = dir .. "/broker.log", exit_path = dir .. "/exited" }, Broker)
  os.remove(b.exit_path)   -- a restart in the same directory
  local argv
  if kind == "redis" then
    argv = { "redis-server", "--port", b.port, "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "no", "--dir", dir, "--daemonize", "no" }
    if b.password then
      argv[#argv + 1] = "--requirepass"
      argv[#argv + 1] = b.password
    end
  else
    b.monitor_port = monitor_port or t.free_port()
    argv = { "nats-server", "-a", "127.0.0.1", "-p", b.port, "-m", b.monitor_port }
    if opts and opts.jetstream then
      for _, w in ipairs { "-js", "-sd", dir .. "/jetstream" } do argv[#argv + 1] = w end
    end
  end
  for _, a in ipairs(opts and opts.args or {}) do argv[#argv + 1] = a end
  local words = {}
  for i, a in ipairs(argv) do words[i] = quote(a) end
  -- the subshell waits for the broker and marks its exit, so `alive` never sees a zombie
  local cmd = ("( %s >%s 2>&1 & echo $!; exec >/dev/null 2>&1; wait $!; touch %s ) </dev/null &")
    :format(table.concat(words, " "), quote(b.log_path), quote(b.exit_path))
  local p = assert(io.popen(cmd))
  b.pid = tonumber(p:read("*l"))
  p:close()
  assert(b.pid, "could not start " .. kind)
  if not t.poll(function() return not b:alive() or listening(b.port) end) or not b:alive() then
    b:kill()
    local f = io.open(b.log_path)
    error(kind .. " did not start on port " .. b.port .. ":\n" .. (f and f:read("*a") or ""), 2)
  end
  return b
end

-- The exit mark, and the process itself: a spec's t.cleanup() may have removed the mark's
-- directory first, and then a stop would wait out its whole timeout.
function Broker:alive()
  if exists(self.exit_path) then return false end
  local status = os.execute("kill -0 " .. self.pid .. " 2>/dev/null")
  return status == 0 or status == true
end

local function signal_and_wait(self, sig, seconds)
  if not self:alive() then return true end
  os.execute("kill -" .. sig .. " " .. self.pid .. " 2>/dev/null")
  return t.poll(function() return not self:alive() end, { timeout = seconds })
end

--- Kills the broker at once (SIGKILL), as a crash would, and waits for it to be gone.
function Broker:kill() return signal_and_wait(self, "KILL", 5) end

--- Stops the broker (SIGTERM, then SIGKILL after 5 s).
function Broker:stop()
  if not signal_and_wait(self, "TERM", 5) then self:kill() end
end

--- The same broker started again on its ports, in its directory; args as opts.args.
function Broker:restart(args)
  return M.start(self.kind, self.port, self.monitor_port, { dir = self.dir, password = self.password, args = args })
end

--- The URL luahub's cluster.url takes.
function Broker:url() return ("%s://127.0.0.1:%d"):format(self.kind, self.port) end

local function redis_numsub(port, channel, password)
  local s = socket.tcp()
  s:settimeout(2)
  if not s:connect("127.0.0.1", port) then return nil end
  if password then
    s:send("AUTH " .. password .. "\r\n")
    if s:receive("*l") ~= "+OK" then s:close() return nil end
  end
  s:send("PUBSUB NUMSUB " .. channel .. "\r\n")
  local n
  for _ = 1, 5 do
    local line = s:receive("*l")
    if not line then break end
    n = line:match("^:(%d+)")
    if n then break end
  end
  s:close()
  return tonumber(n)
end

--- The body of GET path on a loopback port, or nil when nothing answers (a probe that
-- works on any HTTP server: a broker's monitor, a node started outside luahub.testing).
function M.http_get(port, path)
  local s = socket.tcp()
  s:settimeout(2)
  if not s:connect("127.0.0.1", port) then return nil end
  s:send("GET " .. path .. " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
  local response = s:receive("*a")
  s:close()
  return response and response:match("\r\n\r\n(.*)$")
end

local function nats_subscribers(monitor_port, subject)
  local body = M.http_get(monitor_port, "/connz?subs=1&limit=1024")
  local doc = body and cjson.decode(body)
  if not doc then return nil end
  local n = 0
  for _, c in ipairs(doc.connections or {}) do
    for _, sub in ipairs(c.subscriptions_list or {}) do
      if sub == subject then n = n + 1 end
    end
  end
  return n
end

--- How many connections (one per luahub node) subscribe to channel, asking the broker.
function Broker:subscribers(channel)
  if self.kind == "redis" then return redis_numsub(self.port, channel, self.password) end
  return nats_subscribers(self.monitor_port, channel)
end

return M
