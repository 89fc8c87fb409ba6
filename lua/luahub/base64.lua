-- Strict base64 (the core's lh_base64_decode, core/base64.c): the publish API's binary
-- data and JetStream's message data.
local ffi = require "ffi"
local C = require "luahub.ffi"

local decoded_len = ffi.new("size_t[1]")

-- The bytes s encodes, or nil for misplaced or excess padding, a character outside the
-- alphabet, or a length that is not a multiple of 4.
return function(s)
  local out = ffi.new("char[?]", math.floor(#s / 4) * 3)
  if C.lh_base64_decode(s, #s, out, decoded_len) ~= 0 then return nil end
  return ffi.string(out, decoded_len[0])
end
