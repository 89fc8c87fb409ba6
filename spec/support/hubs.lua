-- Hub scripts and payloads shared by the integration specs.
local ffi = require "ffi"
local t = require "luahub.testing"

local M = {}

-- Echoes every message back with its kind: text stays text, binary stays binary.
M.ECHO = [[
local hub = require "luahub"
hub.config { max_message_size = 1048576 }
hub.handle(function(client, msg)
  if msg.kind == "binary" then client:send_binary(msg.data) else client:send(msg.data) end
end)
]]

--- Starts a server running M.ECHO with config overrides.
function M.start_echo(overrides)
  return t.start(t.write_script(M.ECHO), overrides)
end

--- Path of an example's hub.lua.
function M.example(name)
  return t.repo_root() .. "/examples/" .. name .. "/hub.lua"
end

local function random_string(n, low, high)
  if n == 0 then return "" end
  local buf = ffi.new("uint8_t[?]", n)
  for i = 0, n - 1 do buf[i] = math.random(low, high) end
  return ffi.string(buf, n)
end

--- n bytes of random printable ASCII (valid UTF-8).
function M.text_payload(n) return random_string(n, 32, 126) end

--- n random bytes.
function M.binary_payload(n) return random_string(n, 0, 255) end

--- Asserts the connection was refused with an HTTP status (a number or a list);
-- returns status, headers, body.
function M.assert_refused(srv, opts, expected)
  local client, kind, status, headers, body = srv:connect(opts)
  assert(client == nil, "expected the upgrade to be refused, but the server answered 101")
  assert(kind == "http", "expected an HTTP answer, got error: " .. tostring(kind))
  local allowed = type(expected) == "table" and expected or { expected }
  for _, s in ipairs(allowed) do
    if s == status then return status, headers, body end
  end
  error(("expected HTTP status %s, got %s: %s"):format(table.concat(allowed, " or "), tostring(status),
    tostring(body)), 2)
end

return M
