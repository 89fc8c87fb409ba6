-- JSON Web Tokens signed with HMAC-SHA256 (JWS "HS256", RFC 7515 / RFC 7519): just what
-- a hub needs to check a token in before_connect. The HMAC is OpenSSL's, through the
-- LuaJIT FFI: inside luahub the binary already links libcrypto (ffi.C); elsewhere (a
-- token-minting command, a spec) the library is loaded by name.
--
--   local jwt = require "jwt"
--   local token = jwt.sign({ sub = "alice", exp = os.time() + 3600 }, secret)
--   local claims, err = jwt.verify(token, secret)   -- claims, or nil, "expired" | ...
local ffi = require "ffi"
local cjson = require "cjson.safe"

local M = {}

pcall(ffi.cdef, [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *data, size_t data_len,
                    unsigned char *md, unsigned int *md_len);
int CRYPTO_memcmp(const void *a, const void *b, size_t len);
]])

-- libcrypto: the running process's when it has one, else the shared library.
local function load_crypto()
  if pcall(function() return ffi.C.HMAC end) then return ffi.C end
  for _, name in ipairs { "crypto", "libcrypto.so.3", "libcrypto.so.1.1" } do
    local ok, lib = pcall(ffi.load, name)
    if ok then return lib end
  end
  error("jwt: libcrypto not found (install libssl3 or libssl-dev)")
end
local crypto = load_crypto()

local digest = ffi.new("unsigned char[32]")
local digest_len = ffi.new("unsigned int[1]")

--- HMAC-SHA256 of data under key, as 32 raw bytes.
function M.hmac_sha256(key, data)
  if crypto.HMAC(crypto.EVP_sha256(), key, #key, data, #data, digest, digest_len) == nil then
    error("jwt: HMAC failed")
  end
  return ffi.string(digest, digest_len[0])
end

----------------------------------------------------------------------------- base64url
local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local VALUE = {}
for i = 1, 64 do VALUE[ALPHABET:byte(i)] = i - 1 end

local byte, char, floor, concat = string.byte, string.char, math.floor, table.concat

--- base64url without padding (RFC 4648 section 5), as JWS uses it.
function M.base64url_encode(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = byte(s, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local d1, d2, d3, d4 = floor(n / 262144), floor(n / 4096) % 64, floor(n / 64) % 64, n % 64
    out[#out + 1] = ALPHABET:sub(d1 + 1, d1 + 1) .. ALPHABET:sub(d2 + 1, d2 + 1)
      .. (b and ALPHABET:sub(d3 + 1, d3 + 1) or "") .. (c and ALPHABET:sub(d4 + 1, d4 + 1) or "")
  end
  return concat(out)
end

--- Decodes base64url (padding optional). Returns the bytes, or nil on a bad character
-- or length.
function M.base64url_decode(s)
  s = s:gsub("=+$", "")
  if #s % 4 == 1 then return nil end
  local out = {}
  for i = 1, #s, 4 do
    local n, count = 0, 0
    for j = i, math.min(i + 3, #s) do
      local v = VALUE[byte(s, j)]
      if not v then return nil end
      n = n * 64 + v
      count = count + 1
    end
    for _ = count + 1, 4 do n = n * 64 end
    local b1, b2, b3 = floor(n / 65536), floor(n / 256) % 256, n % 256
    out[#out + 1] = char(b1) .. (count > 2 and char(b2) or "") .. (count > 3 and char(b3) or "")
  end
  return concat(out)
end

----------------------------------------------------------------------------- tokens
local HEADER = M.base64url_encode('{"alg":"HS256","typ":"JWT"}')

--- A signed token for a table of claims.
function M.sign(claims, secret)
  if type(claims) ~= "table" then error("jwt.sign: claims must be a table", 2) end
  if type(secret) ~= "string" or secret == "" then error("jwt.sign: secret must be a non-empty string", 2) end
  local input = HEADER .. "." .. M.base64url_encode(assert(cjson.encode(claims)))
  return input .. "." .. M.base64url_encode(M.hmac_sha256(secret, input))
end

--- Checks a token: the claims table, or nil, code with code one of "malformed",
-- "bad_algorithm", "bad_signature", "expired", "not_yet_valid". opts.now (seconds)
-- replaces the clock; opts.leeway (default 30 s) allows for clock skew.
function M.verify(token, secret, opts)
  opts = opts or {}
  if type(token) ~= "string" then return nil, "malformed" end
  local h64, c64, s64 = token:match("^([%w_%-]+)%.([%w_%-]+)%.([%w_%-]+)$")
  if not h64 then return nil, "malformed" end
  local header = cjson.decode(M.base64url_decode(h64) or "")
  if type(header) ~= "table" then return nil, "malformed" end
  if header.alg ~= "HS256" then return nil, "bad_algorithm" end
  local signature = M.base64url_decode(s64)
  local expected = M.hmac_sha256(secret, h64 .. "." .. c64)
  if not signature or #signature ~= #expected
     or crypto.CRYPTO_memcmp(signature, expected, #expected) ~= 0 then
    return nil, "bad_signature"
  end
  local claims = cjson.decode(M.base64url_decode(c64) or "")
  if type(claims) ~= "table" then return nil, "malformed" end
  local now, leeway = opts.now or os.time(), opts.leeway or 30
  if type(claims.exp) == "number" and now >= claims.exp + leeway then return nil, "expired" end
  if type(claims.nbf) == "number" and now < claims.nbf - leeway then return nil, "not_yet_valid" end
  return claims
end

return M
