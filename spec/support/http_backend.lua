-- A real HTTP(S) backend on loopback for hub.http specs: spec/support/http_backend.py (its
-- routes are listed there), or an example's own backend, run by the system's Python,
-- signalled and stopped by PID.
local socket = require "socket"
local cjson = require "cjson"
local t = require "luahub.testing"
local tools = require "support.tools"

local M = {}

local Backend = {}
Backend.__index = Backend

local function quote(s) return "'" .. tostring(s):gsub("'", [['\'']]) .. "'" end

local function listening(port)
  local s = socket.tcp()
  s:settimeout(0.2)
  local ok = s:connect("127.0.0.1", port)
  s:close()
  return ok ~= nil
end

--- Starts the backend on a free port, or on opts.port (a restart); opts.cert and opts.key
-- (PEM files) make it HTTPS; opts.script: another server taking --port (default
-- spec/support/http_backend.py). Raises with its output when it does not listen.
function M.start(opts)
  opts = opts or {}
  local dir = t.tmpdir()
  local b = setmetatable({ port = opts.port or t.free_port(), log_path = dir .. "/backend.log",
                           exit_path = dir .. "/exited" }, Backend)
  b.base = ("%s://127.0.0.1:%d"):format(opts.cert and "https" or "http", b.port)
  local script = opts.script or t.repo_root() .. "/spec/support/http_backend.py"
  local argv = { tools.PYTHON, script, "--port", b.port }
  if opts.cert then
    for _, a in ipairs({ "--cert", opts.cert, "--key", opts.key }) do argv[#argv + 1] = a end
  end
  for i, a in ipairs(argv) do argv[i] = quote(a) end
  -- the subshell waits for the backend and marks its exit, so `alive` never sees a zombie
  local cmd = ("( %s >%s 2>&1 & echo $!; exec >/dev/null 2>&1; wait $!; touch %s ) </dev/null &")
    :format(table.concat(argv, " "), quote(b.log_path), quote(b.exit_path))
  local p = assert(io.popen(cmd))
  b.pid = tonumber(p:read("*l"))
  p:close()
  assert(b.pid, "could not start the HTTP backend")
  if not t.poll(function() return not b:alive() or listening(b.port) end) or not b:alive() then
    b:stop()
    local f = io.open(b.log_path)
    error("the HTTP backend did not start on port " .. b.port .. ":\n" .. (f and f:read("*a") or ""), 2)
  end
  return b
end

function Backend:alive()
  local f = io.open(self.exit_path)
  if f then f:close() end
  return f == nil
end

--- Sends a signal by name: "STOP" makes a backend that takes connections and never
-- answers, until "CONT".
function Backend:signal(name)
  os.execute("kill -" .. name .. " " .. self.pid .. " 2>/dev/null")
end

--- Stops it (paused or not) and waits until it has exited.
function Backend:stop()
  if not self:alive() then return end
  self:signal("TERM")
  self:signal("CONT")   -- a paused process takes the TERM once it runs again
  t.poll(function() return not self:alive() end)
end

function Backend:url(path) return self.base .. path end

--- TCP connections the backend accepted so far (asked over a connection of its own).
function Backend:connections()
  local s = socket.tcp()
  s:settimeout(2)
  assert(s:connect("127.0.0.1", self.port))
  s:send("GET /connections HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
  local response = s:receive("*a")
  s:close()
  return cjson.decode(response:match("\r\n\r\n(.*)$")).connections
end

--- A self-signed certificate for 127.0.0.1 (openssl CLI); returns cert, key paths.
function M.self_signed()
  tools.need_command("openssl", "openssl")
  local dir = t.tmpdir()
  local cert, key = dir .. "/cert.pem", dir .. "/key.pem"
  local status = os.execute(("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
    .. "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s >/dev/null 2>&1"):format(quote(key), quote(cert)))
  assert(status == 0 or status == true, "openssl could not make a certificate")
  return cert, key
end

return M
