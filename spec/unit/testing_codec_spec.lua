-- The wire helpers of luahub.testing, checked against the examples in RFC 6455
-- and the published SHA-1 / base64 test vectors.
local t = require "luahub.testing"

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

local function unhex(h)
  return (h:gsub("%s", ""):gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end

describe("luahub.testing wire helpers", function()
  it("computes SHA-1 like FIPS 180 for empty, short and multi-block input", function()
    assert.equal("da39a3ee5e6b4b0d3255bfef95601890afd80709", hex(t.sha1("")))
    assert.equal("a9993e364706816aba3e25717850c26c9cd0d89d", hex(t.sha1("abc")))
    assert.equal("84983e441c3bd26ebaae4aa1f95129e5e54670f1",
      hex(t.sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")))
    assert.equal("34aa973cd4c4daa4f61eeb2bdbad27316534016f", hex(t.sha1(string.rep("a", 1000000))))
  end)

  it("encodes base64 with padding like RFC 4648", function()
    local vectors = { [""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==",
                      fooba = "Zm9vYmE=", foobar = "Zm9vYmFy" }
    for input, output in pairs(vectors) do assert.equal(output, t.base64(input)) end
    assert.equal("AP8Q", t.base64("\0\255\16"))
  end)

  it("derives Sec-WebSocket-Accept as in RFC 6455 section 1.3", function()
    assert.equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", t.accept_key("dGhlIHNhbXBsZSBub25jZQ=="))
  end)

  it("encodes the frames of RFC 6455 section 5.7", function()
    assert.equal("810548656c6c6f", hex(t.encode_frame { payload = "Hello", mask = false }))
    assert.equal("818537fa213d7f9f4d5158",
      hex(t.encode_frame { payload = "Hello", mask_key = unhex("37fa213d") }))
    assert.equal("010348656c", hex(t.encode_frame { fin = false, payload = "Hel", mask = false }))
    assert.equal("80026c6f", hex(t.encode_frame { opcode = 0, payload = "lo", mask = false }))
    assert.equal("890548656c6c6f", hex(t.encode_frame { opcode = 9, payload = "Hello", mask = false }))
    local frame256 = t.encode_frame { opcode = 2, payload = string.rep("x", 256), mask = false }
    assert.equal("827e0100", hex(frame256:sub(1, 4)))
    local frame64k = t.encode_frame { opcode = 2, payload = string.rep("x", 65536), mask = false }
    assert.equal("827f0000000000010000", hex(frame64k:sub(1, 10)))
    assert.equal(65546, #frame64k)
  end)

  it("uses the 7-bit length up to 125 bytes and the 16-bit length from 126 to 65535", function()
    assert.equal("827d", hex(t.encode_frame { opcode = 2, payload = string.rep("x", 125), mask = false }:sub(1, 2)))
    assert.equal("827e007e", hex(t.encode_frame { opcode = 2, payload = string.rep("x", 126), mask = false }:sub(1, 4)))
    assert.equal("827effff", hex(t.encode_frame { opcode = 2, payload = string.rep("x", 65535), mask = false }:sub(1, 4)))
  end)

  it("sets RSV bits and the mask bit as asked", function()
    assert.equal("c100", hex(t.encode_frame { rsv = 4, mask = false }))
    assert.equal("9100", hex(t.encode_frame { rsv = 1, mask = false }))
    local masked = t.encode_frame { opcode = 2, payload = "" }
    assert.equal("8280", hex(masked:sub(1, 2)))
    assert.equal(6, #masked)
  end)

  it("masks with a fresh key per frame", function()
    local a = t.encode_frame { payload = "same payload" }
    local b = t.encode_frame { payload = "same payload" }
    assert.are_not.equal(a:sub(3, 6), b:sub(3, 6))
  end)

  it("builds close payloads with a big-endian code", function()
    assert.equal("", t.close_payload())
    assert.equal("03e8", hex(t.close_payload(1000)))
    assert.equal("0fa0627965", hex(t.close_payload(4000, "bye")))
  end)
end)
