--- luahub.testing: start a real luahub server from a busted spec and talk to it
-- with real WebSocket and HTTP clients.
--
--   local t = require "luahub.testing"
--   local srv = t.start("hub.lua", { max_message_size = 4096 })
--   local c = assert(srv:connect())
--   c:send("hi"); assert.equal("hi", c:receive())
--   t.cleanup()                      -- in teardown: stops servers, removes temp dirs
--
-- Everything waits by polling with a deadline; nothing sleeps a fixed time.
-- Errors: operations that talk to the network return nil, err (as ngx.socket does);
-- only programming mistakes and failed startups raise.
-- Needs LuaJIT 2.1 (bit, ffi), luasocket and lua-cjson.

local bit = require "bit"
local ffi = require "ffi"
local socket = require "socket"
local cjson = require "cjson.safe"

local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local lshift, rshift, rol, tobit = bit.lshift, bit.rshift, bit.rol, bit.tobit
local byte, char, sub, rep, concat = string.byte, string.char, string.sub, string.rep, table.concat
local floor, random = math.floor, math.random
local now = socket.gettime

local M = {}

--- Seconds every wait uses when the caller gives no timeout.
M.default_timeout = 5

local POLL_INTERVAL = 0.01

math.randomseed(floor(now() * 1000000) % 2147483647)

-- Encoding --------------------------------------------------------------------

local function u32be(n)
  return char(band(rshift(n, 24), 255), band(rshift(n, 16), 255),
              band(rshift(n, 8), 255), band(n, 255))
end

local function u64be(n)
  local high = floor(n / 4294967296)
  return u32be(high) .. u32be(n - high * 4294967296)
end

--- SHA-1 digest (20 raw bytes) of a string. Only used for handshakes, so it is
-- written for clarity rather than speed.
function M.sha1(message)
  local h0, h1, h2, h3, h4 = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0
  local length = #message
  local padded = message .. "\128" .. rep("\0", (55 - length) % 64) .. u64be(length * 8)
  local w = {}
  for block = 1, #padded, 64 do
    for i = 0, 15 do
      local a, b, c, d = byte(padded, block + i * 4, block + i * 4 + 3)
      w[i] = bor(lshift(a, 24), lshift(b, 16), lshift(c, 8), d)
    end
    for i = 16, 79 do
      w[i] = rol(bxor(w[i - 3], w[i - 8], w[i - 14], w[i - 16]), 1)
    end
    local a, b, c, d, e = h0, h1, h2, h3, h4
    for i = 0, 79 do
      local f, k
      if i < 20 then
        f, k = bor(band(b, c), band(bnot(b), d)), 0x5A827999
      elseif i < 40 then
        f, k = bxor(b, c, d), 0x6ED9EBA1
      elseif i < 60 then
        f, k = bor(band(b, c), band(b, d), band(c, d)), 0x8F1BBCDC
      else
        f, k = bxor(b, c, d), 0xCA62C1D6
      end
      a, b, c, d, e = tobit(rol(a, 5) + f + e + k + w[i]), a, rol(b, 30), c, d
    end
    h0, h1, h2 = tobit(h0 + a), tobit(h1 + b), tobit(h2 + c)
    h3, h4 = tobit(h3 + d), tobit(h4 + e)
  end
  return u32be(h0) .. u32be(h1) .. u32be(h2) .. u32be(h3) .. u32be(h4)
end

local BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

--- Standard base64 (with padding) of a string.
function M.base64(data)
  local out = {}
  for i = 1, #data, 3 do
    local a, b, c = byte(data, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1, c2 = floor(n / 262144) % 64, floor(n / 4096) % 64
    local c3, c4 = floor(n / 64) % 64, n % 64
    out[#out + 1] = sub(BASE64_ALPHABET, c1 + 1, c1 + 1) .. sub(BASE64_ALPHABET, c2 + 1, c2 + 1)
      .. (b and sub(BASE64_ALPHABET, c3 + 1, c3 + 1) or "=")
      .. (c and sub(BASE64_ALPHABET, c4 + 1, c4 + 1) or "=")
  end
  return concat(out)
end

--- The Sec-WebSocket-Accept value a server must answer for a Sec-WebSocket-Key.
function M.accept_key(key)
  return M.base64(M.sha1(key .. "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
end

--- n random bytes (math.random; good enough for masks and handshake keys).
function M.random_bytes(n)
  local out = {}
  for i = 1, n do out[i] = char(random(0, 255)) end
  return concat(out)
end

-- XOR-masks (or unmasks) data with a 4-byte key. Uses an FFI buffer so a
-- 1 MiB payload costs milliseconds.
local function apply_mask(data, key)
  local n = #data
  if n == 0 then return data end
  local buf = ffi.new("uint8_t[?]", n)
  ffi.copy(buf, data, n)
  local k = ffi.new("uint8_t[4]", byte(key, 1, 4))
  for i = 0, n - 1 do
    buf[i] = bxor(buf[i], k[band(i, 3)])
  end
  return ffi.string(buf, n)
end

--- Encodes one WebSocket frame.
-- frame: { fin = true, opcode = 1, payload = "", mask = true, rsv = 0, mask_key = nil }
-- rsv is the 3-bit RSV field: 4 = RSV1, 2 = RSV2, 1 = RSV3. A client frame is
-- masked with a fresh random key unless mask = false or mask_key is given.
function M.encode_frame(frame)
  local payload = frame.payload or ""
  local length = #payload
  local first = (frame.fin == false and 0 or 0x80) + (frame.rsv or 0) * 16 + (frame.opcode or 1)
  local masked = frame.mask ~= false
  local mask_bit = masked and 0x80 or 0
  local header
  if length < 126 then
    header = char(first, mask_bit + length)
  elseif length < 65536 then
    header = char(first, mask_bit + 126, rshift(length, 8), band(length, 255))
  else
    header = char(first, mask_bit + 127) .. u64be(length)
  end
  if not masked then return header .. payload end
  local key = frame.mask_key or M.random_bytes(4)
  return header .. key .. apply_mask(payload, key)
end

--- Payload of a close frame: 2-byte code then reason; "" when code is nil.
function M.close_payload(code, reason)
  if code == nil then return "" end
  return char(rshift(code, 8), band(code, 255)) .. (reason or "")
end

-- Files and processes ----------------------------------------------------------

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("*a")
  f:close()
  return data
end

--- Writes content to path (binary), raising on failure. Returns path.
function M.write_file(path, content)
  local f = assert(io.open(path, "wb"))
  assert(f:write(content))
  f:close()
  return path
end

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function run(command)
  local status = os.execute(command .. " >/dev/null 2>&1")
  return status == 0 or status == true
end

local function command_output(command)
  local p = assert(io.popen(command))
  local out = p:read("*a")
  p:close()
  return out
end

local temp_dirs = {}

--- Creates a fresh temporary directory, removed by t.cleanup() (kept when the
-- environment variable LUAHUB_KEEP_TMP is set, to read logs after a run).
function M.tmpdir()
  local dir = command_output("mktemp -d \"${TMPDIR:-/tmp}/luahub-spec.XXXXXX\""):gsub("%s+$", "")
  assert(dir ~= "", "mktemp -d failed")
  temp_dirs[#temp_dirs + 1] = dir
  return dir
end

--- Writes a hub script into a fresh temp dir and returns its path.
function M.write_script(source, name)
  return M.write_file(M.tmpdir() .. "/" .. (name or "hub.lua"), source)
end

--- The repository root, found from this file's path (lua/luahub/testing.lua).
function M.repo_root()
  local source = debug.getinfo(1, "S").source
  local dir = source:match("^@(.*)/lua/luahub/[^/]+$")
  if dir and dir ~= "" then return dir end
  return "."
end

--- Path of the luahub binary: $LUAHUB_BIN, else build/luahub in the repository,
-- else `luahub` from PATH (an installed server).
function M.binary()
  local from_env = os.getenv("LUAHUB_BIN")
  if from_env then return from_env end
  local built = M.repo_root() .. "/build/luahub"
  if file_exists(built) then return built end
  local installed = command_output("command -v luahub 2>/dev/null"):gsub("%s+$", "")
  return installed ~= "" and installed or built
end

--- A loopback TCP port that was free a moment ago.
function M.free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

local function wait_until(deadline, predicate)
  while true do
    local result = predicate()
    if result then return result end
    if now() >= deadline then return nil end
    socket.sleep(POLL_INTERVAL)
  end
end

-- HTTP -------------------------------------------------------------------------

-- Reads one CRLF line before the deadline, keeping partial reads across timeouts.
local function read_line(sock, deadline)
  local acc = ""
  while true do
    sock:settimeout(math.max(0, deadline - now()))
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
    sock:settimeout(math.max(0, deadline - now()))
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
    sock:settimeout(math.max(0, deadline - now()))
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

local function read_body(sock, headers, deadline)
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

-- Builds a request head from an ordered list of {name, value} pairs, then
-- applies overrides: a value replaces (or adds) a header, under the override's
-- spelling of the name; false removes it. Names match case-insensitively.
local function request_head(request_line, defaults, overrides)
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

local function header_value(list, name)
  for _, h in ipairs(list) do
    if h[1]:lower() == name:lower() then return h[2] end
  end
end

local function url_encode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(byte(c)) end))
end

local function query_string(query)
  if not query then return "" end
  local keys = {}
  for k in pairs(query) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = url_encode(k) .. "=" .. url_encode(query[k]) end
  return #parts > 0 and ("?" .. concat(parts, "&")) or ""
end

local function send_all(sock, data, deadline)
  local from = 1
  while from <= #data do
    sock:settimeout(math.max(0, deadline - now()))
    local last, err, partial_last = sock:send(data, from)
    if last then return true end
    from = (partial_last or from - 1) + 1
    if err ~= "timeout" or now() >= deadline then return nil, err end
  end
  return true
end

-- WebSocket client -------------------------------------------------------------

local Client = {}
Client.__index = Client

local OPCODE_NAMES = { [0] = "continuation", [1] = "text", [2] = "binary",
                       [8] = "close", [9] = "ping", [10] = "pong" }

local function new_client(sock, response)
  return setmetatable({
    sock = sock,
    status = response.status,          -- 101
    headers = response.headers,        -- response headers, lowercased names
    key = response.key,                -- Sec-WebSocket-Key we sent
    protocol = response.headers["sec-websocket-protocol"],
    auto_pong = true,
    control = {},                      -- every control frame received: {opcode, payload}
    rbuf = "", rpos = 1,
    fragments = nil, fragment_kind = nil,
    close_sent = false, close_received = false,
    close_code = nil, close_reason = nil,
    tcp_closed = false, read_error = nil, protocol_error = nil,
  }, Client)
end

-- Ensures n unread bytes are buffered. Returns true, or nil, "timeout"|"closed".
function Client:_fill(n, deadline)
  local have = #self.rbuf - self.rpos + 1
  if have >= n then return true end
  if self.tcp_closed then return nil, "closed" end
  local parts = { sub(self.rbuf, self.rpos) }
  local result, err = true, nil
  while have < n do
    self.sock:settimeout(math.max(0, deadline - now()))
    local data, rerr, partial = self.sock:receive(n - have)
    local chunk = data or partial
    if chunk and #chunk > 0 then
      parts[#parts + 1] = chunk
      have = have + #chunk
    end
    if not data then
      if rerr ~= "timeout" then
        self.tcp_closed, self.read_error = true, rerr
        result, err = nil, "closed"
        break
      elseif now() >= deadline then
        result, err = nil, "timeout"
        break
      end
    end
  end
  self.rbuf, self.rpos = concat(parts), 1
  return result, err
end

-- Parses the next frame from the socket. Returns the frame table or nil, err.
-- Nothing is consumed when the frame is not complete before the deadline.
function Client:_next_frame(deadline)
  local ok, err = self:_fill(2, deadline)
  if not ok then return nil, err end
  local pos = self.rpos
  local b0, b1 = byte(self.rbuf, pos, pos + 1)
  local length, header_length = band(b1, 0x7f), 2
  if length == 126 then
    ok, err = self:_fill(4, deadline)
    if not ok then return nil, err end
    pos = self.rpos
    local h, l = byte(self.rbuf, pos + 2, pos + 3)
    length, header_length = h * 256 + l, 4
  elseif length == 127 then
    ok, err = self:_fill(10, deadline)
    if not ok then return nil, err end
    pos = self.rpos
    length = 0
    for i = 2, 9 do length = length * 256 + byte(self.rbuf, pos + i) end
    header_length = 10
  end
  local masked = band(b1, 0x80) ~= 0
  if masked then header_length = header_length + 4 end
  ok, err = self:_fill(header_length + length, deadline)
  if not ok then return nil, err end
  pos = self.rpos
  local payload = sub(self.rbuf, pos + header_length, pos + header_length + length - 1)
  if masked then
    payload = apply_mask(payload, sub(self.rbuf, pos + header_length - 4, pos + header_length - 1))
  end
  self.rpos = pos + header_length + length
  if self.rpos > 65536 then
    self.rbuf, self.rpos = sub(self.rbuf, self.rpos), 1
  end
  return {
    fin = band(b0, 0x80) ~= 0,
    rsv = rshift(band(b0, 0x70), 4),
    opcode = band(b0, 0x0f),
    masked = masked,
    payload = payload,
  }
end

local function parse_close(payload)
  if #payload < 2 then return nil, nil end
  local h, l = byte(payload, 1, 2)
  return h * 256 + l, sub(payload, 3)
end

--- Sends arbitrary bytes on the connection. Returns true or nil, err.
function Client:send_raw(bytes, timeout)
  if self.tcp_closed then return nil, "closed" end
  local ok, err = send_all(self.sock, bytes, now() + (timeout or M.default_timeout))
  if not ok and err ~= "timeout" then self.tcp_closed = true end
  return ok, err
end

--- Sends one raw frame: { fin = true, opcode = 1, payload = "", mask = true,
-- rsv = 0, mask_key = nil } (see t.encode_frame).
function Client:send_frame(frame)
  return self:send_raw(M.encode_frame(frame))
end

function Client:send(text) return self:send_frame { opcode = 1, payload = text } end
function Client:send_binary(bytes) return self:send_frame { opcode = 2, payload = bytes } end
function Client:ping(payload) return self:send_frame { opcode = 9, payload = payload or "" } end
function Client:pong(payload) return self:send_frame { opcode = 10, payload = payload or "" } end

function Client:send_json(value)
  local encoded, err = cjson.encode(value)
  if not encoded then error("send_json: cannot encode argument #1: " .. tostring(err), 2) end
  return self:send(encoded)
end

--- Sends a close frame; with no code the payload is empty.
function Client:close(code, reason)
  self.close_sent = true
  return self:send_frame { opcode = 8, payload = M.close_payload(code, reason) }
end

--- Drops the TCP connection without a close frame.
function Client:disconnect()
  self.sock:close()
  self.tcp_closed = true
end

--- Close code received from the server, if any.
function Client:closed_code()
  return self.close_code
end

--- Next raw frame { fin, opcode, rsv, payload, masked }, without reassembly or
-- automatic pong. Returns nil, "timeout" | "closed" when there is none.
function Client:receive_frame(timeout)
  local frame, err = self:_next_frame(now() + (timeout or M.default_timeout))
  if frame and frame.opcode == 8 then
    self.close_received = true
    self.close_code, self.close_reason = parse_close(frame.payload)
  end
  return frame, err
end

-- Records a protocol violation by the server and returns the receive() result for it.
function Client:_violation(message)
  self.protocol_error = message
  return nil, "protocol_error", message
end

--- Next data message, reassembled from fragments.
-- Returns data, "text"|"binary"; or nil, "timeout"; or nil, "closed", code, reason
-- (a close frame is answered with the same code); or nil, "protocol_error", message
-- when the server breaks RFC 6455 (masked frame, RSV bits, bad fragmentation, ...).
-- Pings are answered automatically unless self.auto_pong is false; every control
-- frame is appended to self.control as { opcode = n, payload = s }.
function Client:receive(timeout)
  local deadline = now() + (timeout or M.default_timeout)
  while true do
    if self.close_received then return nil, "closed", self.close_code, self.close_reason end
    local frame, err = self:_next_frame(deadline)
    if not frame then
      if err == "closed" then return nil, "closed", self.close_code, self.close_reason end
      return nil, err
    end
    local opcode = frame.opcode
    if frame.masked then return self:_violation("server sent a masked frame") end
    if frame.rsv ~= 0 then return self:_violation("server set RSV bits " .. frame.rsv) end
    if not OPCODE_NAMES[opcode] then return self:_violation("server sent unknown opcode " .. opcode) end
    if opcode >= 8 then
      if not frame.fin then return self:_violation("server fragmented a control frame") end
      if #frame.payload > 125 then return self:_violation("server control frame longer than 125 bytes") end
      self.control[#self.control + 1] = { opcode = opcode, payload = frame.payload }
      if opcode == 9 and self.auto_pong and not self.close_sent then
        self:pong(frame.payload)
      elseif opcode == 8 then
        self.close_received = true
        self.close_code, self.close_reason = parse_close(frame.payload)
        if not self.close_sent then self:close(self.close_code) end
        return nil, "closed", self.close_code, self.close_reason
      end
    elseif opcode == 0 then
      if not self.fragments then return self:_violation("server sent a continuation with no message started") end
      self.fragments[#self.fragments + 1] = frame.payload
      if frame.fin then
        local data, kind = concat(self.fragments), self.fragment_kind
        self.fragments, self.fragment_kind = nil, nil
        return data, kind
      end
    else
      if self.fragments then return self:_violation("server started a message inside a fragmented one") end
      local kind = OPCODE_NAMES[opcode]
      if frame.fin then return frame.payload, kind end
      self.fragments, self.fragment_kind = { frame.payload }, kind
    end
  end
end

--- Next message decoded as JSON: value, or nil, err (as receive, or "bad json: ...").
function Client:receive_json(timeout)
  local data, kind, code, reason = self:receive(timeout)
  if not data then return nil, kind, code, reason end
  local value, err = cjson.decode(data)
  if value == nil then return nil, "bad json: " .. tostring(err) .. ": " .. data:sub(1, 200) end
  return value
end

--- Waits until the server closes the TCP connection. Returns true, or nil, "timeout".
-- Data arriving meanwhile is discarded.
function Client:wait_tcp_close(timeout)
  local deadline = now() + (timeout or M.default_timeout)
  while not self.tcp_closed do
    local _, err = self:_fill(#self.rbuf - self.rpos + 2, deadline)
    if err == "timeout" then return nil, "timeout" end
    self.rbuf, self.rpos = "", 1
  end
  return true
end

local function code_matches(expected, code)
  if expected == nil then return true end
  if type(expected) == "table" then
    for _, c in ipairs(expected) do if c == code then return true end end
    return false
  end
  return expected == code
end

local function describe_codes(expected)
  if type(expected) == "table" then return table.concat(expected, " or ") end
  return tostring(expected)
end

--- Reads until the server's close frame and checks its code (a number, a list of
-- numbers, or nil for any). Data messages before it are skipped. Returns true,
-- code, reason or nil, message. Also waits for the server to close TCP.
function Client:check_close(expected, timeout)
  local deadline = now() + (timeout or M.default_timeout)
  while true do
    local data, err, code, reason = self:receive(math.max(0, deadline - now()))
    if not data then
      if err == "timeout" then
        return nil, ("expected a close frame with code %s, got none within %.1fs"):format(
          describe_codes(expected), timeout or M.default_timeout)
      elseif err == "protocol_error" then
        return nil, "expected a close frame, but the server broke the protocol: " .. tostring(code)
      elseif not self.close_received then
        return nil, ("expected a close frame with code %s, but TCP was closed without one (%s)"):format(
          describe_codes(expected), tostring(self.read_error))
      elseif not code_matches(expected, code) then
        return nil, ("expected close code %s, got %s (reason %q)"):format(
          describe_codes(expected), tostring(code), tostring(reason))
      end
      self:wait_tcp_close(math.max(0, deadline - now()))
      return true, code, reason
    end
  end
end

--- As check_close, but raises (a failed spec) on mismatch. Returns code, reason.
function Client:expect_close(expected, timeout)
  local ok, code, reason = self:check_close(expected, timeout)
  if not ok then error(code, 2) end
  return code, reason
end

--- Waits until the connection ends in any way: close frame or TCP close.
-- Returns "close_frame", code or "tcp_close", or nil, "timeout".
function Client:wait_closed(timeout)
  local deadline = now() + (timeout or M.default_timeout)
  while true do
    local frame, err = self:_next_frame(deadline)
    if not frame then
      if err == "timeout" then return nil, "timeout" end
      return "tcp_close"
    end
    if frame.opcode == 8 then
      self.close_received = true
      self.close_code, self.close_reason = parse_close(frame.payload)
      return "close_frame", self.close_code
    end
  end
end

-- Server -----------------------------------------------------------------------

local Server = {}
Server.__index = Server

local running_servers = {}

local function status_of(srv)
  if srv.exit_status then return srv.exit_status end
  local text = read_file(srv.status_path)
  if text and text:match("%d") then
    srv.exit_status = tonumber(text:match("%d+"))
    running_servers[srv] = nil
  end
  return srv.exit_status
end

--- True while the server process has not exited.
function Server:is_running()
  return status_of(self) == nil
end

--- Current log text (stdout and stderr of the server).
function Server:log()
  return read_file(self.log_path) or ""
end

--- Polls the log until it matches a Lua pattern. Returns the match or nil.
function Server:wait_log(pattern, timeout)
  return wait_until(now() + (timeout or M.default_timeout), function()
    return self:log():match(pattern)
  end)
end

--- Sends a signal by name ("HUP", "TERM", "USR1", ...). Returns true on success.
function Server:signal(name)
  return run("kill -" .. name .. " " .. self.pid)
end

--- Reloads the script with SIGHUP; with a path, first copies that file over the
-- served script (the original content is restored by stop()).
function Server:reload(new_script_path)
  if new_script_path then
    local content = assert(read_file(new_script_path), "reload: cannot read " .. new_script_path)
    if not self.original_script then self.original_script = read_file(self.script) end
    local staging = self.script .. ".luahub-reload"
    M.write_file(staging, content)
    assert(os.rename(staging, self.script))
  end
  return self:signal("HUP")
end

--- Stops the server: drops its test clients' connections, SIGTERM, waits (timeout,
-- default 10 s), then SIGKILL. Returns the exit status as the shell reports it
-- (128 + signal number when killed by a signal).
function Server:stop(timeout)
  for _, client in ipairs(self.clients) do client:disconnect() end
  self.clients = {}
  -- SIGTERM drains; clients the spec still holds elsewhere would keep a drain going for
  -- drain_timeout, so after a second a second SIGTERM closes them (1001) and ends it.
  if self:is_running() then
    self:signal("TERM")
    local stopped = function() return not self:is_running() end
    if not wait_until(now() + 1, stopped) then
      self:signal("TERM")
      if not wait_until(now() + (timeout or 10), stopped) then
        self:signal("KILL")
        wait_until(now() + 5, stopped)
      end
    end
  end
  if self.original_script then
    M.write_file(self.script, self.original_script)
    self.original_script = nil
  end
  running_servers[self] = nil
  return status_of(self)
end

-- A TCP connection to the server with TCP_NODELAY, or nil, "connect: ..." .
function Server:_open_tcp(timeout)
  local sock = socket.tcp()
  sock:settimeout(timeout)
  local ok, err = sock:connect(self.host, self.port)
  if not ok then
    sock:close()
    return nil, "connect: " .. tostring(err)
  end
  sock:setoption("tcp-nodelay", true)
  return sock
end

-- Opens a connection, sends request and reads the response head. Returns sock
-- (still open, for the body or frames), status, headers, deadline; or nil, message.
function Server:_request(request, timeout)
  local deadline = now() + timeout
  local sock, err = self:_open_tcp(timeout)
  if not sock then return nil, err end
  local sent, send_err = send_all(sock, request, deadline)
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

--- Opens a WebSocket connection.
-- opts: { path = ws_path, query = {k = v}, headers = {Name = value | false},
--         protocols = {...}, origin = "...", method = "GET", timeout = 5 }
-- A header set to false is left out of the request (e.g. Sec-WebSocket-Key).
-- Returns a client; nil, "http", status, headers, body when the server answers
-- something else than 101; or nil, message on a network or handshake error.
function Server:connect(opts)
  opts = opts or {}
  local defaults = {
    { "Host", self.host .. ":" .. self.port },
    { "Upgrade", "websocket" },
    { "Connection", "Upgrade" },
    { "Sec-WebSocket-Key", M.base64(M.random_bytes(16)) },
    { "Sec-WebSocket-Version", "13" },
  }
  if opts.origin then defaults[#defaults + 1] = { "Origin", opts.origin } end
  if opts.protocols and #opts.protocols > 0 then
    defaults[#defaults + 1] = { "Sec-WebSocket-Protocol", concat(opts.protocols, ", ") }
  end
  local path = (opts.path or self.ws_path) .. query_string(opts.query)
  local head, sent_headers = request_head((opts.method or "GET") .. " " .. path .. " HTTP/1.1",
                                          defaults, opts.headers)
  local sock, status, headers, deadline = self:_request(head, opts.timeout or M.default_timeout)
  if not sock then return nil, status end
  if status ~= 101 then
    local body = read_body(sock, headers, deadline)
    sock:close()
    return nil, "http", status, headers, body
  end
  local key = header_value(sent_headers, "Sec-WebSocket-Key")
  local expected = key and M.accept_key(key)
  if headers["sec-websocket-accept"] ~= expected then
    sock:close()
    return nil, ("bad Sec-WebSocket-Accept: got %s, want %s"):format(
      tostring(headers["sec-websocket-accept"]), tostring(expected))
  end
  local client = new_client(sock, { status = status, headers = headers, key = key })
  self.clients[#self.clients + 1] = client
  return client
end

--- Plain HTTP/1.1 request with Connection: close.
-- Returns status, headers (lowercased names), body; or nil, err.
function Server:http(method, path, headers, body, timeout)
  local defaults = { { "Host", self.host .. ":" .. self.port }, { "Connection", "close" } }
  if body then defaults[#defaults + 1] = { "Content-Length", #body } end
  local head = request_head(method .. " " .. path .. " HTTP/1.1", defaults, headers)
  local sock, status, response_headers, deadline = self:_request(head .. (body or ""),
                                                                  timeout or M.default_timeout)
  if not sock then return nil, status end
  local response_body, berr
  if method == "HEAD" or status == 204 or status == 304 then
    response_body = ""
  else
    response_body, berr = read_body(sock, response_headers, deadline)
  end
  sock:close()
  if not response_body then return nil, "reading body: " .. tostring(berr) end
  return status, response_headers, response_body
end

--- Sends bytes on a new TCP connection and returns everything read until the
-- server closes it or the timeout passes: data, "closed" | "timeout" | err.
function Server:raw(bytes, timeout)
  local deadline = now() + (timeout or M.default_timeout)
  local sock, err = self:_open_tcp(timeout or M.default_timeout)
  if not sock then return nil, err end
  send_all(sock, bytes, deadline)
  local data, rerr = read_until_close(sock, deadline)
  sock:close()
  return data, rerr
end

local function can_connect(host, port)
  local sock = socket.tcp()
  sock:settimeout(0.2)
  local ok = sock:connect(host, port)
  sock:close()
  return ok ~= nil
end

--- Starts the luahub binary on a free loopback port with script_path.
-- overrides: table deep-merged over the script's hub.config (passed as --config JSON).
-- opts: { env = {K = V}, args = {...extra CLI args}, expect_fail = false, timeout = 5,
--         port = N (default: a free one; e.g. a second process with reuse_port) }
-- Returns a server with host, port, pid, url, log_path, script. Raises, with the
-- log, when the server exits or does not listen in time. With expect_fail, waits
-- for the process to exit instead and returns the server (see srv.exit_status,
-- srv:log()); raises if it starts listening.
function M.start(script_path, overrides, opts)
  if type(script_path) ~= "string" then
    error("start: argument #1 (script path) must be a string", 2)
  end
  opts = opts or {}
  local bin = M.binary()
  if not file_exists(bin) then
    error("luahub binary not found at " .. bin .. " (run make, or set LUAHUB_BIN)", 2)
  end
  local dir = M.tmpdir()
  local srv = setmetatable({
    host = "127.0.0.1",
    port = opts.port or M.free_port(),
    script = script_path,
    ws_path = overrides and overrides.ws_path or "/ws",
    log_path = dir .. "/luahub.log",
    status_path = dir .. "/exit_status",
    clients = {},
  }, Server)
  srv.url = ("ws://%s:%d%s"):format(srv.host, srv.port, srv.ws_path)

  local argv = { bin, "--listen", srv.host .. ":" .. srv.port }
  if overrides and next(overrides) then
    argv[#argv + 1] = "--config"
    argv[#argv + 1] = assert(cjson.encode(overrides))
  end
  for _, a in ipairs(opts.args or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = script_path
  local words = {}
  for name, value in pairs(opts.env or {}) do
    assert(tostring(name):match("^[%a_][%w_]*$"), "start: bad environment variable name " .. tostring(name))
    words[#words + 1] = name .. "=" .. shell_quote(value)
  end
  for _, a in ipairs(argv) do words[#words + 1] = shell_quote(a) end
  -- A subshell starts the server in the background, prints its PID, and waits for
  -- it to record the exit status; the server's own PID is the one we signal.
  local command = ("( %s >%s 2>&1 & echo $!; exec >/dev/null 2>&1; wait $!; echo $? >%s.tmp; mv %s.tmp %s ) </dev/null &")
    :format(concat(words, " "), shell_quote(srv.log_path), shell_quote(srv.status_path),
            shell_quote(srv.status_path), shell_quote(srv.status_path))
  local p = assert(io.popen(command))
  srv.pid = tonumber(p:read("*l"))
  p:close()
  assert(srv.pid, "start: could not read the server's PID")
  running_servers[srv] = true

  local deadline = now() + (opts.timeout or M.default_timeout)
  if opts.expect_fail then
    local listening
    wait_until(deadline, function()
      if not srv:is_running() then return true end
      listening = can_connect(srv.host, srv.port)
      return listening
    end)
    if srv:is_running() then
      srv:stop()
      error(("expected luahub to fail to start, but it is %s:\n%s"):format(
        listening and "listening" or "still running", srv:log()), 2)
    end
    return srv
  end
  local ready = wait_until(deadline, function()
    return not srv:is_running() or can_connect(srv.host, srv.port)
  end)
  if not srv:is_running() then
    error(("luahub exited during startup (status %s):\n%s"):format(tostring(srv.exit_status), srv:log()), 2)
  end
  if not ready then
    srv:stop()
    error(("luahub did not listen on %s:%d within %.1fs:\n%s"):format(
      srv.host, srv.port, opts.timeout or M.default_timeout, srv:log()), 2)
  end
  return srv
end

--- Runs `luahub check SCRIPT`. Returns ok (exit status 0), output.
function M.check(script_path)
  local out = command_output(shell_quote(M.binary()) .. " check " .. shell_quote(script_path)
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

--- stop_all(), then removes the temp dirs made by tmpdir()/write_script()/start()
-- unless LUAHUB_KEEP_TMP is set.
function M.cleanup()
  M.stop_all()
  if os.getenv("LUAHUB_KEEP_TMP") then return end
  for _, dir in ipairs(temp_dirs) do run("rm -rf " .. shell_quote(dir)) end
  temp_dirs = {}
end

-- Stops leftover servers when the Lua state closes (busted exits with close = true).
M._sentinel = newproxy(true)
getmetatable(M._sentinel).__gc = function() M.cleanup() end

-- Assertions -------------------------------------------------------------------

--- Raises unless client receives a close frame with the expected code
-- (a number or a list). Returns code, reason.
function M.assert_closed_with(expected, client, timeout)
  local ok, code, reason = client:check_close(expected, timeout)
  if not ok then error(code, 2) end
  return code, reason
end

-- With busted loaded, also offers assert.closed_with(code, client[, timeout]).
local has_luassert, luassert = pcall(require, "luassert")
if has_luassert then
  local say = require "say"
  say:set("assertion.closed_with.positive", "Expected the connection to be closed with code %s")
  say:set("assertion.closed_with.negative", "Expected the connection not to be closed with code %s")
  luassert:register("assertion", "closed_with", function(state, arguments)
    local ok, message = arguments[2]:check_close(arguments[1], arguments[3])
    if not ok then state.failure_message = message end
    return ok == true
  end, "assertion.closed_with.positive", "assertion.closed_with.negative")
end

return M
