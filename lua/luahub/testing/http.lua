--- luahub.testing.http: HTTP/1.1 over a luasocket TCP connection, for the server's
-- plain HTTP routes and for the WebSocket handshake. Every read and write keeps to one
-- deadline for the whole exchange, however the bytes are split.
local socket = require "socket"
local wait = require "luahub.testing.wait"

local byte, concat = string.byte, table.concat
local max = math.max
local now = socket.gettime

local M = {}

-- Reads one CRLF line before the deadline, keeping partial reads across timeouts.
local function read_line(sock, deadline)
  local acc = ""
  while true do
    sock:settimeout(max(0, deadline - now()))
    local line, err, partial = sock:receive("*l")
    if line then return acc .. line end
    acc = acc .. (partial or "")
    if err ~= "timeout" or now() >= deadline then return nil, err, acc end
  end
end

-- Reads exactly n bytes before the deadline.
local function read_exactly(sock, n, deadline)
  local parts, got = {}, 0
  while got < n do
    sock:settimeout(max(0, deadline - now()))
    local data, err, partial = sock:receive(n - got)
    local chunk = data or partial
    if chunk and #chunk > 0 then
      parts[#parts + 1] = chunk
      got = got + #chunk
    end
    if not data and (err ~= "timeout" or now() >= deadline) then
      return nil, err, concat(parts)
    end
  end
  return concat(parts)
end

-- Reads until the peer closes or the deadline passes. Returns data, "closed"|"timeout"|err.
local function read_until_close(sock, deadline)
  local parts = {}
  while true do
    sock:settimeout(max(0, deadline - now()))
    local data, err, partial = sock:receive(8192)
    local chunk = data or partial
    if chunk and #chunk > 0 then parts[#parts + 1] = chunk end
    if not data and (err ~= "timeout" or now() >= deadline) then
      return concat(parts), err
    end
  end
end

-- Reads a status line and headers. Returns status, headers (lowercased names;
-- repeated headers joined with ", "), status_line.
local function read_response_head(sock, deadline)
  local status_line, err = read_line(sock, deadline)
  if not status_line then return nil, "reading status line: " .. tostring(err) end
  local status = tonumber(status_line:match("^HTTP/1%.[01] (%d%d%d)"))
  if not status then return nil, "bad status line: " .. status_line end
  local headers = {}
  while true do
    local line, lerr = read_line(sock, deadline)
    if not line then return nil, "reading headers: " .. tostring(lerr) end
    if line == "" then break end
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    if not name then return nil, "bad header line: " .. line end
    name = name:lower()
    headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
  end
  return status, headers, status_line
end

--- Reads a response body as the head announces it: Content-Length, chunked, or until the
-- server closes. Returns the body, or nil, err.
function M.read_body(sock, headers, deadline)
  local length = tonumber(headers["content-length"])
  if length then return read_exactly(sock, length, deadline) end
  if (headers["transfer-encoding"] or ""):lower():find("chunked", 1, true) then
    local parts = {}
    while true do
      local size_line, err = read_line(sock, deadline)
      if not size_line then return nil, err end
      local size = tonumber(size_line:match("^%x+"), 16)
      if not size then return nil, "bad chunk size line: " .. size_line end
      if size == 0 then
        repeat
          local trailer = read_line(sock, deadline)
        until not trailer or trailer == ""
        return concat(parts)
      end
      local chunk, cerr = read_exactly(sock, size, deadline)
      if not chunk then return nil, cerr end
      parts[#parts + 1] = chunk
      read_line(sock, deadline)
    end
  end
  local data, err = read_until_close(sock, deadline)
  if err == "timeout" then return nil, "timeout" end
  return data
end

--- Builds a request head from an ordered list of {name, value} pairs, then
-- applies overrides: a value replaces (or adds) a header, under the override's
-- spelling of the name; false removes it. Names match case-insensitively.
-- Returns the head and the final list.
function M.request_head(request_line, defaults, overrides)
  local list = {}
  for _, h in ipairs(defaults) do list[#list + 1] = { h[1], h[2] } end
  for name, value in pairs(overrides or {}) do
    local found = false
    for i = #list, 1, -1 do
      if list[i][1]:lower() == name:lower() then
        found = true
        if value == false then table.remove(list, i) else list[i] = { name, value } end
      end
    end
    if not found and value ~= false then list[#list + 1] = { name, value } end
  end
  local lines = { request_line }
  for _, h in ipairs(list) do lines[#lines + 1] = h[1] .. ": " .. tostring(h[2]) end
  return concat(lines, "\r\n") .. "\r\n\r\n", list
end

--- The value of a header in request_head's list (name case-insensitive), or nil.
function M.header_value(list, name)
  for _, h in ipairs(list) do
    if h[1]:lower() == name:lower() then return h[2] end
  end
end

local function url_encode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(byte(c)) end))
end

--- "?k=v&..." from a table (keys sorted, values URL-encoded); "" for none.
function M.query_string(query)
  if not query then return "" end
  local keys = {}
  for k in pairs(query) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = url_encode(k) .. "=" .. url_encode(query[k]) end
  return #parts > 0 and ("?" .. concat(parts, "&")) or ""
end

--- Writes all of data before the deadline. Returns true, or nil, err.
function M.send_all(sock, data, deadline)
  local from = 1
  while from <= #data do
    sock:settimeout(max(0, deadline - now()))
    local last, err, partial_last = sock:send(data, from)
    if last then return true end
    from = (partial_last or from - 1) + 1
    if err ~= "timeout" or now() >= deadline then return nil, err end
  end
  return true
end


--- A TCP connection to host:port with TCP_NODELAY, or nil, "connect: ...".
function M.open(host, port, timeout)
  local sock = socket.tcp()
  sock:settimeout(timeout)
  local ok, err = sock:connect(host, port)
  if not ok then
    sock:close()
    return nil, "connect: " .. tostring(err)
  end
  sock:setoption("tcp-nodelay", true)
  return sock
end

--- True when host:port accepts a TCP connection within 0.2 s.
function M.listening(host, port)
  local sock = M.open(host, port, 0.2)
  if sock then sock:close() end
  return sock ~= nil
end

--- Opens a connection, sends request and reads the response head. Returns sock
-- (still open, for the body or frames), status, headers, deadline; or nil, message.
function M.exchange(host, port, request, timeout)
  local deadline = now() + timeout
  local sock, err = M.open(host, port, timeout)
  if not sock then return nil, err end
  local sent, send_err = M.send_all(sock, request, deadline)
  if not sent then
    sock:close()
    return nil, "sending request: " .. tostring(send_err)
  end
  local status, headers = read_response_head(sock, deadline)
  if not status then
    sock:close()
    return nil, headers
  end
  return sock, status, headers, deadline
end

--- Plain HTTP/1.1 request with Connection: close; headers as request_head's overrides.
-- Returns status, headers (lowercased names), body; or nil, err.
function M.request(host, port, method, path, headers, body, timeout)
  local defaults = { { "Host", host .. ":" .. port }, { "Connection", "close" } }
  if body then defaults[#defaults + 1] = { "Content-Length", #body } end
  local head = M.request_head(method .. " " .. path .. " HTTP/1.1", defaults, headers)
  local sock, status, response_headers, deadline = M.exchange(host, port, head .. (body or ""),
                                                              timeout or wait.default_timeout)
  if not sock then return nil, status end
  local response_body, berr
  if method == "HEAD" or status == 204 or status == 304 then
    response_body = ""
  else
    response_body, berr = M.read_body(sock, response_headers, deadline)
  end
  sock:close()
  if not response_body then return nil, "reading body: " .. tostring(berr) end
  return status, response_headers, response_body
end

--- Sends bytes on a new TCP connection and returns everything read until the
-- server closes it or the timeout passes: data, "closed" | "timeout" | err.
function M.raw(host, port, bytes, timeout)
  timeout = timeout or wait.default_timeout
  local deadline = now() + timeout
  local sock, err = M.open(host, port, timeout)
  if not sock then return nil, err end
  M.send_all(sock, bytes, deadline)
  local data, rerr = read_until_close(sock, deadline)
  sock:close()
  return data, rerr
end

return M
