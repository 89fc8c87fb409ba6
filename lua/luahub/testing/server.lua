--- luahub.testing.server: the real luahub binary as a process a spec starts, signals,
-- reloads and stops, and the clients and HTTP requests that talk to it. Every server
-- started is remembered until it exits, so stop_all() (t.cleanup()) leaves none behind.
local socket = require "socket"
local cjson = require "cjson.safe"
local wait = require "luahub.testing.wait"
local sys = require "luahub.testing.sys"
local http = require "luahub.testing.http"
local client = require "luahub.testing.client"

local concat = table.concat
local quote = sys.shell_quote

local M = {}

local Server = {}
Server.__index = Server

-- Servers started and not yet seen exiting; stop_all() stops them.
local running_servers = {}

local function status_of(srv)
  if srv.exit_status then return srv.exit_status end
  local text = sys.read_file(srv.status_path)
  if text and text:match("%d") then
    srv.exit_status = tonumber(text:match("%d+"))
    running_servers[srv] = nil
  end
  return srv.exit_status
end

--- The server process's resident memory in KiB, from /proc (nil once it exited).
function Server:rss_kib()
  local f = io.open("/proc/" .. self.pid .. "/status")
  if not f then return nil end
  local kib = f:read("*a"):match("\nVmRSS:%s+(%d+) kB")
  f:close()
  return tonumber(kib)
end

--- How many descriptors the server process holds open (nil once it exited).
function Server:open_fds()
  local list = io.popen("ls /proc/" .. self.pid .. "/fd 2>/dev/null")
  local n = 0
  for _ in list:lines() do n = n + 1 end
  list:close()
  return n > 0 and n or nil
end

--- True while the server process has not exited.
function Server:is_running()
  return status_of(self) == nil
end

--- Current log text (stdout and stderr of the server).
function Server:log()
  return sys.read_file(self.log_path) or ""
end

--- Polls the log until it matches a Lua pattern. Returns the match or nil.
function Server:wait_log(pattern, timeout)
  return (wait.poll(function() return self:log():match(pattern) end, { timeout = timeout }))
end

--- Sends a signal by name ("HUP", "TERM", "USR1", ...). Returns true on success.
function Server:signal(name)
  return sys.run("kill -" .. name .. " " .. self.pid)
end

-- Reloads the server has reported, from /metrics: ok, failed (nil when it does not answer).
function Server:_reloads()
  local status, _, body = self:http("GET", "/metrics", nil, nil, 2)
  if status ~= 200 then return nil end
  return tonumber(body:match('luahub_reloads_total{result="ok"} (%d+)')),
         tonumber(body:match('luahub_reloads_total{result="failed"} (%d+)'))
end

--- Reloads the script (SIGHUP) and returns once the server has done it: true when the
-- new script serves (every message from now on goes to it), or false and the server's
-- reason when it refused it (the running script keeps serving). Raises when the server
-- reports nothing within timeout (t.default_timeout). With a path, the server serves that
-- file from now on: the link the harness serves (srv.script) is pointed at it; no file is
-- ever written, so the script given to start() stays as it was.
-- It waits for the server's own reload count (/metrics) to move past the one read before
-- the signal, so an earlier reload, or its log line, is never taken for this one.
function Server:reload(new_script_path, timeout)
  if new_script_path then sys.link(new_script_path, self.script) end
  local ok_before, failed_before = self:_reloads()
  if not ok_before then error("reload: the server does not answer /metrics:\n" .. self:log(), 2) end
  if not self:signal("HUP") then error("reload: cannot signal the server (it has exited):\n" .. self:log(), 2) end
  local ok_after = wait.eventually(function()
    if not self:is_running() then error("reload: the server exited:\n" .. self:log(), 0) end
    local ok, failed = self:_reloads()
    return ok and ok + failed > ok_before + failed_before and ok, ok, failed
  end, { timeout = timeout, message = "reload: the server never reported the reload" })
  if ok_after > ok_before then return true end
  local reasons = {}
  for line in self:log():gmatch("[^\n]*reload of [^\n]* failed[^\n]*") do reasons[#reasons + 1] = line end
  return false, reasons[#reasons]
end

--- Stops the server: drops its test clients' connections, SIGTERM, waits (timeout,
-- default 10 s), then SIGKILL. Returns the exit status as the shell reports it
-- (128 + signal number when killed by a signal).
function Server:stop(timeout)
  for _, c in ipairs(self.clients) do c:disconnect() end
  self.clients = {}
  -- SIGTERM drains; clients the spec still holds elsewhere would keep a drain going for
  -- drain_timeout, so after a second a second SIGTERM closes them (1001) and ends it.
  if self:is_running() then
    self:signal("TERM")
    local stopped = function() return not self:is_running() end
    if not wait.poll(stopped, { timeout = 1 }) then
      self:signal("TERM")
      if not wait.poll(stopped, { timeout = timeout or 10 }) then
        self:signal("KILL")
        wait.poll(stopped, { timeout = 5 })
      end
    end
  end
  running_servers[self] = nil
  return status_of(self)
end

--- Opens a WebSocket connection (see client.connect for opts and returns; opts.path
-- defaults to the server's ws_path). The client is dropped by stop().
function Server:connect(opts)
  local c, err, status, headers, body = client.connect(self.host, self.port,
                                                       opts and opts.path or self.ws_path, opts)
  if not c then return nil, err, status, headers, body end
  self.clients[#self.clients + 1] = c
  return c
end

--- Plain HTTP/1.1 request with Connection: close.
-- Returns status, headers (lowercased names), body; or nil, err.
function Server:http(method, path, headers, body, timeout)
  return http.request(self.host, self.port, method, path, headers, body, timeout)
end

--- Sends bytes on a new TCP connection and returns everything read until the
-- server closes it or the timeout passes: data, "closed" | "timeout" | err.
function Server:raw(bytes, timeout)
  return http.raw(self.host, self.port, bytes, timeout)
end

--- Path of the luahub binary: $LUAHUB_BIN; else, when this package is loaded from a
-- luahub checkout, its build/luahub; else `luahub` from PATH (an installed server).
-- nil when there is none.
function M.binary()
  local from_env = os.getenv("LUAHUB_BIN")
  if from_env and from_env ~= "" then return from_env end
  local root = sys.repo_root()
  if root and sys.file_exists(root .. "/build/luahub") then
    -- absolute: a spec may start a server (or another spec) from another directory
    return sys.command_output(("cd %s && pwd"):format(quote(root))):gsub("%s+$", "") .. "/build/luahub"
  end
  local installed = sys.command_output("command -v luahub 2>/dev/null"):gsub("%s+$", "")
  return installed ~= "" and installed or nil
end

--- A loopback TCP port that was free a moment ago.
function M.free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

--- Starts the luahub binary on a free loopback port with script_path.
-- overrides: table deep-merged over the script's hub.config (passed as --config JSON).
-- opts: { env = {K = V}, args = {...extra CLI args}, expect_fail = false, timeout = 5,
--         time_scale = X (hub.every, hub.after and hub.sleep take X times their
--         seconds: 0.01 fires a script's 30 s timer every 0.3 s; --time-scale),
--         port = N (default: a free one; e.g. a second process with reuse_port),
--         binary = path (default M.binary(); e.g. a wrapper that sets limits or
--         supervises, and execs or runs the real binary with the same arguments) }
-- Returns a server with host, port, pid, url, log_path, source (script_path), script
-- (the link to it the server serves; see reload). The server stops when this process
-- ends, however it ends (--parent-pid). Raises, with the
-- log, when the server exits or does not listen in time. With expect_fail, waits
-- for the process to exit instead and returns the server (see srv.exit_status,
-- srv:log()); raises if it starts listening.
function M.start(script_path, overrides, opts)
  if type(script_path) ~= "string" then
    error("start: argument #1 (script path) must be a string", 2)
  end
  opts = opts or {}
  local bin = opts.binary or M.binary()
  if not bin or not sys.file_exists(bin) then
    error(("luahub binary not found%s: put luahub on PATH or set LUAHUB_BIN"):format(
      bin and " at " .. bin or ""), 2)
  end
  local dir = sys.tmpdir()
  -- The server serves a link the harness owns, pointing at the script: reload(path) moves
  -- the link, so the script given here is never written, even by a spec that crashes.
  local served = dir .. "/" .. script_path:match("[^/]*$")
  sys.link(script_path, served)
  local srv = setmetatable({
    host = "127.0.0.1",
    port = opts.port or M.free_port(),
    script = served,
    source = script_path,
    ws_path = overrides and overrides.ws_path or "/ws",
    log_path = dir .. "/luahub.log",
    status_path = dir .. "/exit_status",
    clients = {},
  }, Server)
  srv.url = ("ws://%s:%d%s"):format(srv.host, srv.port, srv.ws_path)

  -- --parent-pid: the server stops when this process ends, even killed with SIGKILL.
  local argv = { bin, "--listen", srv.host .. ":" .. srv.port, "--parent-pid", tostring(sys.pid()) }
  if overrides and next(overrides) then
    argv[#argv + 1] = "--config"
    argv[#argv + 1] = assert(cjson.encode(overrides))
  end
  if opts.time_scale then
    argv[#argv + 1] = "--time-scale"
    argv[#argv + 1] = ("%.17g"):format(opts.time_scale)
  end
  for _, a in ipairs(opts.args or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = srv.script
  local words = {}
  for name, value in pairs(opts.env or {}) do
    assert(tostring(name):match("^[%a_][%w_]*$"), "start: bad environment variable name " .. tostring(name))
    words[#words + 1] = name .. "=" .. quote(value)
  end
  for _, a in ipairs(argv) do words[#words + 1] = quote(a) end
  -- A subshell starts the server in the background, prints its PID, and waits for
  -- it to record the exit status; the server's own PID is the one we signal.
  local command = ("( %s >%s 2>&1 & echo $!; exec >/dev/null 2>&1; wait $!; echo $? >%s.tmp; mv %s.tmp %s ) </dev/null &")
    :format(concat(words, " "), quote(srv.log_path), quote(srv.status_path),
            quote(srv.status_path), quote(srv.status_path))
  local p = assert(io.popen(command))
  srv.pid = tonumber(p:read("*l"))
  p:close()
  assert(srv.pid, "start: could not read the server's PID")
  running_servers[srv] = true

  local timeout = opts.timeout or wait.default_timeout
  if opts.expect_fail then
    local listening
    wait.poll(function()
      if not srv:is_running() then return true end
      listening = http.listening(srv.host, srv.port)
      return listening
    end, { timeout = timeout })
    if srv:is_running() then
      srv:stop()
      error(("expected luahub to fail to start, but it is %s:\n%s"):format(
        listening and "listening" or "still running", srv:log()), 2)
    end
    return srv
  end
  local ready = wait.poll(function()
    return not srv:is_running() or http.listening(srv.host, srv.port)
  end, { timeout = timeout })
  if not srv:is_running() then
    error(("luahub exited during startup (status %s):\n%s"):format(tostring(srv.exit_status), srv:log()), 2)
  end
  if not ready then
    srv:stop()
    error(("luahub did not listen on %s:%d within %.1fs:\n%s"):format(
      srv.host, srv.port, timeout, srv:log()), 2)
  end
  return srv
end

--- Runs `luahub check SCRIPT`. Returns ok (exit status 0), output.
function M.check(script_path)
  local out = sys.command_output(quote(M.binary()) .. " check " .. quote(script_path)
                                 .. " 2>&1; echo \"exit:$?\"")
  local status = tonumber(out:match("exit:(%d+)%s*$"))
  return status == 0, (out:gsub("exit:%d+%s*$", ""))
end

--- Stops every server started by this module that is still running.
function M.stop_all()
  local list = {}
  for srv in pairs(running_servers) do list[#list + 1] = srv end
  for _, srv in ipairs(list) do srv:stop() end
end

return M
