--- luahub.testing.wire: the bytes of the WebSocket protocol as a client writes them —
-- SHA-1 and base64 for the handshake, frame encoding and masking, close payloads.
-- Pure functions on strings; nothing here touches a socket.
local bit = require "bit"
local ffi = require "ffi"
local socket = require "socket"

local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local lshift, rshift, rol, tobit = bit.lshift, bit.rshift, bit.rol, bit.tobit
local byte, char, sub, rep, concat = string.byte, string.char, string.sub, string.rep, table.concat
local floor, random = math.floor, math.random

local M = {}

-- LuaJIT starts math.random from the same seed in every process: without this, masks
-- and handshake keys would repeat from run to run.
math.randomseed(floor(socket.gettime() * 1000000) % 2147483647)

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

--- XOR-masks (or unmasks) data with a 4-byte key. Uses an FFI buffer so a
-- 1 MiB payload costs milliseconds.
function M.apply_mask(data, key)
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
  return header .. key .. M.apply_mask(payload, key)
end

--- Payload of a close frame: 2-byte code then reason; "" when code is nil.
function M.close_payload(code, reason)
  if code == nil then return "" end
  return char(rshift(code, 8), band(code, 255)) .. (reason or "")
end

return M
