-- hub.http: outbound HTTP(S) calls a script waits on (core/outbound_http.c). A request is
-- checked here, where a mistake can be named; the call runs on the core's loop while the
-- task waits (luahub.wait), so other clients are served meanwhile.
--   hub.http.request { method = "GET", url = ..., headers = {...}, body = ..., timeout = s }
--     -> { status = N, headers = { lower-case name = value }, body = "..." }
--     or nil, code, detail   (bad_argument, busy, timeout, connect, too_large, tls, closed,
--                             failed; docs/lua-api.md)
-- A wrong type is the script's own mistake and raises; a value that cannot be sent (a url,
-- method or header the request cannot carry) may come from data and is returned.
local C = require "luahub.ffi"
local errors = require "luahub.errors"
local wait = require "luahub.wait"

local type, pairs, tostring, concat = type, pairs, tostring, table.concat

local M = {}

local TOKEN = "^[%w!#$%%&'*+%-.^_`|~]+$"

-- Framing headers follow from the body curl sends; the script's own could contradict it.
local FRAMING = { ["content-length"] = true, ["transfer-encoding"] = true }

local function raise(name, level, msg) error(name .. ": " .. msg, level + 1) end

local function bad(name, msg) return nil, "bad_argument", name .. ": " .. msg end

local function shown(s)
  s = tostring(s)
  return ("%q"):format(#s > 100 and s:sub(1, 100) .. "..." or s)
end

-- "Name: value\r\n" lines of a headers table; or nil, why (a value that cannot be sent).
-- level: the script's frame as seen from here, for a wrong type.
local function header_block(name, level, headers)
  local lines = {}
  for k, v in pairs(headers) do
    if type(v) == "number" then v = tostring(v) end
    if type(k) ~= "string" or type(v) ~= "string" then
      raise(name, level, "headers must map names (strings) to values (strings or numbers)")
    end
    if not k:find(TOKEN) then return nil, "header name " .. shown(k) .. " is not a token" end
    if FRAMING[k:lower()] then return nil, k .. " is set from the body" end
    if v:find("[%z\r\n]") then return nil, "the value of " .. k .. " holds CR, LF or NUL" end
    lines[#lines + 1] = k .. ": " .. v .. "\r\n"
  end
  return concat(lines)
end

-- level: the script's frame as seen from here (2: the script called it, through a tail
-- call of M.request, M.get or M.post, which leaves no frame).
local function request(name, level, opts)
  if type(opts) ~= "table" then raise(name, level, "expected a table of options") end
  local method, url, headers, body, timeout = opts.method or "GET", opts.url, opts.headers,
    opts.body, opts.timeout
  if type(url) ~= "string" then raise(name, level, "url must be a string") end
  if type(method) ~= "string" then raise(name, level, "method must be a string") end
  if headers ~= nil and type(headers) ~= "table" then raise(name, level, "headers must be a table") end
  if body ~= nil and type(body) ~= "string" then raise(name, level, "body must be a string") end
  if timeout ~= nil and (type(timeout) ~= "number" or not (timeout > 0) or timeout == math.huge) then
    raise(name, level, "timeout must be a number of seconds > 0")
  end
  if not method:find(TOKEN) then return bad(name, "method " .. shown(method) .. " is not a token") end
  local block, why = "", nil
  if headers then
    block, why = header_block(name, level + 1, headers)
    if not block then return bad(name, why) end
  end
  wait.check(name)
  local id = C.lh_http_request(method, #method, url, #url, block, #block, body,
                               body and #body or 0, timeout or 0)
  if id >= 0 then return wait.wait(id, name) end
  local _, code, msg = errors.result(id)
  -- the method and headers were checked above: the core refused the url
  if code == "bad_argument" then
    return bad(name, "url " .. shown(url) .. " is not an absolute http:// or https:// URL with a host")
  end
  return nil, code, msg
end

function M.request(opts) return request("hub.http.request", 2, opts) end

local function options(name, opts)
  if opts ~= nil and type(opts) ~= "table" then raise(name, 3, "opts must be a table") end
  return opts or {}
end

-- hub.http.get(url, { headers =, timeout = })
function M.get(url, opts)
  opts = options("hub.http.get", opts)
  return request("hub.http.get", 2, { method = "GET", url = url, headers = opts.headers,
                                      timeout = opts.timeout })
end

-- hub.http.post(url, body, { headers =, timeout = })
function M.post(url, body, opts)
  opts = options("hub.http.post", opts)
  return request("hub.http.post", 2, { method = "POST", url = url, body = body,
                                       headers = opts.headers, timeout = opts.timeout })
end

return M
