--- luahub.testing.client: a WebSocket client for specs, strict about RFC 6455 on
-- what the server sends (a masked frame, RSV bits or bad fragmentation is reported,
-- not tolerated) and free to send anything, broken frames included.
local bit = require "bit"
local socket = require "socket"
local cjson = require "cjson.safe"
local wait = require "luahub.testing.wait"
local wire = require "luahub.testing.wire"
local http = require "luahub.testing.http"

local band, rshift = bit.band, bit.rshift
local byte, sub, concat = string.byte, string.sub, table.concat
local max = math.max
local now = socket.gettime

local M = {}

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
    self.sock:settimeout(max(0, deadline - now()))
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
    payload = wire.apply_mask(payload, sub(self.rbuf, pos + header_length - 4, pos + header_length - 1))
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
  local ok, err = http.send_all(self.sock, bytes, now() + (timeout or wait.default_timeout))
  if not ok and err ~= "timeout" then self.tcp_closed = true end
  return ok, err
end

--- Sends one raw frame: { fin = true, opcode = 1, payload = "", mask = true,
-- rsv = 0, mask_key = nil } (see t.encode_frame).
function Client:send_frame(frame)
  return self:send_raw(wire.encode_frame(frame))
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
  return self:send_frame { opcode = 8, payload = wire.close_payload(code, reason) }
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
  local frame, err = self:_next_frame(now() + (timeout or wait.default_timeout))
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
  local deadline = now() + (timeout or wait.default_timeout)
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

--- Reads data messages until predicate(data, kind) returns a truthy value, and returns
-- that value; the messages before it are skipped (a timer's updates between the replies
-- a spec waits for). timeout bounds the whole search. Returns nil, err, code, reason as
-- receive when the deadline passes or the connection ends first.
--   local welcome = c:receive_until(function(data)
--     local m = cjson.decode(data); return m and m.type == "welcome" and m
--   end)
function Client:receive_until(predicate, timeout)
  local deadline = now() + (timeout or wait.default_timeout)
  repeat
    local data, kind, code, reason = self:receive(max(0, deadline - now()))
    if not data then return nil, kind, code, reason end
    local value = predicate(data, kind)
    if value then return value end
  until now() >= deadline
  return nil, "timeout"
end

-- "got none within 5s", "the connection closed (1008 "too fast")", for a failed expectation.
local function describe_end(err, code, reason, timeout)
  if err == "timeout" then return ("got none within %gs"):format(timeout) end
  if err == "closed" then return ("the connection closed (%s %q)"):format(tostring(code), tostring(reason or "")) end
  return ("the connection failed: %s %s"):format(tostring(err), tostring(code or ""))
end

local function excerpt(data) return ("%q"):format(#data > 200 and data:sub(1, 200) .. "..." or data) end

--- The next JSON message whose "type" field is type_name (any JSON value when type_name
-- is nil), decoded. Messages before it are skipped (a timer's ticks between the replies
-- a spec waits for). Raises, naming the skipped messages, when none comes within timeout
-- (t.default_timeout) or the connection ends.
--   assert.equal("hi", bob:expect_json("said").text)
function Client:expect_json(type_name, timeout)
  timeout = timeout or wait.default_timeout
  local skipped = {}
  local found, err, code, reason = self:receive_until(function(data)
    local value = cjson.decode(data)
    if value ~= nil and (type_name == nil or type(value) == "table" and value.type == type_name) then
      return value
    end
    skipped[#skipped + 1] = excerpt(data)
  end, timeout)
  if found then return found end
  local wanted = type_name and ("a JSON message of type %q"):format(type_name) or "a JSON message"
  local seen = #skipped == 0 and "" or ("; skipped %d: %s"):format(#skipped, concat(skipped, ", ", max(1, #skipped - 4)))
  error(("expected %s, %s%s"):format(wanted, describe_end(err, code, reason, timeout), seen), 2)
end

--- Raises when a data message arrives (one sent earlier and not read yet included), or
-- the connection ends, within seconds; returns true after seconds of silence. Silence
-- can only be sampled: pick seconds well above the time the server takes to answer.
--   ann:send_json { type = "say", text = "hi" }; ann:expect_silence(0.2)   -- not echoed
function Client:expect_silence(seconds)
  if type(seconds) ~= "number" or seconds < 0 then
    error("expect_silence: argument #1 must be the seconds to listen for", 2)
  end
  local data, err, code, reason = self:receive(seconds)
  if data then error(("expected no message for %gs, got %s"):format(seconds, excerpt(data)), 2) end
  if err ~= "timeout" then
    error(("expected no message for %gs, but %s"):format(seconds, describe_end(err, code, reason, seconds)), 2)
  end
  return true
end

--- Waits until the server closes the TCP connection. Returns true, or nil, "timeout".
-- Data arriving meanwhile is discarded.
function Client:wait_tcp_close(timeout)
  local deadline = now() + (timeout or wait.default_timeout)
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
  local deadline = now() + (timeout or wait.default_timeout)
  while true do
    local data, err, code, reason = self:receive(max(0, deadline - now()))
    if not data then
      if err == "timeout" then
        return nil, ("expected a close frame with code %s, got none within %.1fs"):format(
          describe_codes(expected), timeout or wait.default_timeout)
      elseif err == "protocol_error" then
        return nil, "expected a close frame, but the server broke the protocol: " .. tostring(code)
      elseif not self.close_received then
        return nil, ("expected a close frame with code %s, but TCP was closed without one (%s)"):format(
          describe_codes(expected), tostring(self.read_error))
      elseif not code_matches(expected, code) then
        return nil, ("expected close code %s, got %s (reason %q)"):format(
          describe_codes(expected), tostring(code), tostring(reason))
      end
      self:wait_tcp_close(max(0, deadline - now()))
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
  local deadline = now() + (timeout or wait.default_timeout)
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

--- Opens a WebSocket connection to host:port: the handshake on path, then a client.
-- opts: { query = {k = v}, headers = {Name = value | false}, protocols = {...},
--         origin = "...", method = "GET", timeout = t.default_timeout }
-- A header set to false is left out of the request (e.g. Sec-WebSocket-Key).
-- Returns a client; nil, "http", status, headers, body when the server answers
-- something else than 101; or nil, message on a network or handshake error.
function M.connect(host, port, path, opts)
  opts = opts or {}
  local defaults = {
    { "Host", host .. ":" .. port },
    { "Upgrade", "websocket" },
    { "Connection", "Upgrade" },
    { "Sec-WebSocket-Key", wire.base64(wire.random_bytes(16)) },
    { "Sec-WebSocket-Version", "13" },
  }
  if opts.origin then defaults[#defaults + 1] = { "Origin", opts.origin } end
  if opts.protocols and #opts.protocols > 0 then
    defaults[#defaults + 1] = { "Sec-WebSocket-Protocol", concat(opts.protocols, ", ") }
  end
  local target = path .. http.query_string(opts.query)
  local head, sent_headers = http.request_head((opts.method or "GET") .. " " .. target .. " HTTP/1.1",
                                               defaults, opts.headers)
  local sock, status, headers, deadline = http.exchange(host, port, head, opts.timeout or wait.default_timeout)
  if not sock then return nil, status end
  if status ~= 101 then
    local body = http.read_body(sock, headers, deadline)
    sock:close()
    return nil, "http", status, headers, body
  end
  local key = http.header_value(sent_headers, "Sec-WebSocket-Key")
  local expected = key and wire.accept_key(key)
  if headers["sec-websocket-accept"] ~= expected then
    sock:close()
    return nil, ("bad Sec-WebSocket-Accept: got %s, want %s"):format(
      tostring(headers["sec-websocket-accept"]), tostring(expected))
  end
  return new_client(sock, { status = status, headers = headers, key = key })
end

return M
