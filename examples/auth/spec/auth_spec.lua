-- examples/auth: JWT HS256 checked in before_connect, user ids from `sub`, to_user
-- across several connections (tabs) of one user, the dev token route.
local cjson = require "cjson.safe"
local t = require "luahub.testing"

local AUTH_DIR = t.repo_root() .. "/examples/auth"
package.path = AUTH_DIR .. "/?.lua;" .. package.path
local jwt = require "jwt"

local SECRET = "spec-secret-42"
local SCRIPT = AUTH_DIR .. "/hub.lua"

local function token(claims, secret)
  claims.exp = claims.exp or os.time() + 600
  return jwt.sign(claims, secret or SECRET)
end

-- The next message of the wanted type, skipping the others.
local function expect(c, wanted)
  local m, err = c:receive_until(function(data)
    local m = cjson.decode(data)
    return m and m.type == wanted and m
  end, 3)
  assert(m, "expected a " .. wanted .. " message: " .. tostring(err))
  return m
end

local function refused_with(srv, opts, status)
  local c, kind, got, _, body = srv:connect(opts)
  assert.is_nil(c, "the upgrade was accepted")
  assert.equal("http", kind)
  assert.equal(status, got, body)
  return body
end

describe("jwt.lua", function()
  it("computes HMAC-SHA256 as RFC 4231 test case 2", function()
    local mac = jwt.hmac_sha256("Jefe", "what do ya want for nothing?")
    assert.equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
      (mac:gsub(".", function(ch) return ("%02x"):format(ch:byte()) end)))
  end)

  it("verifies the HS256 example of RFC 7515 (A.1)", function()
    local key = jwt.base64url_decode(
      "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
    local example = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
      .. ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
      .. ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    local claims = assert(jwt.verify(example, key, { now = 1300819000 }))
    assert.equal("joe", claims.iss)
    assert.same({ nil, "expired" }, { jwt.verify(example, key) })
  end)

  it("round-trips base64url for every length", function()
    for n = 0, 10 do
      local s = ("\255\0\128x"):rep(3):sub(1, n)
      local encoded = jwt.base64url_encode(s)
      assert.is_nil(encoded:find("[+/=]"))
      assert.equal(s, jwt.base64url_decode(encoded))
    end
  end)

  it("refuses tampered, foreign, unsigned and malformed tokens", function()
    local good = token { sub = "alice" }
    local h, c, s = good:match("^(.-)%.(.-)%.(.*)$")
    local other_claims = jwt.base64url_encode('{"sub":"mallory","exp":9999999999}')
    local unsigned = jwt.base64url_encode('{"alg":"none","typ":"JWT"}') .. "." .. c .. "."
    assert.same({ nil, "bad_signature" }, { jwt.verify(h .. "." .. other_claims .. "." .. s, SECRET) })
    assert.same({ nil, "bad_signature" }, { jwt.verify(good, "another secret") })
    assert.same({ nil, "malformed" }, { jwt.verify(unsigned, SECRET) })
    assert.same({ nil, "malformed" }, { jwt.verify("not a token", SECRET) })
    assert.same({ nil, "expired" }, { jwt.verify(token { sub = "a", exp = os.time() - 120 }, SECRET) })
    assert.same({ nil, "not_yet_valid" }, { jwt.verify(token { sub = "a", nbf = os.time() + 120 }, SECRET) })
  end)
end)

describe("examples/auth", function()
  local srv

  lazy_setup(function() srv = t.start(SCRIPT, nil, { env = { LUAHUB_AUTH_SECRET = SECRET } }) end)
  lazy_teardown(t.cleanup)

  local function tab(user)
    local c = assert(srv:connect { query = { token = token { sub = user } } })
    local welcome = expect(c, "welcome")
    assert.equal(user, welcome.user)
    return c
  end

  describe("refuses the upgrade with 401", function()
    it("without a token", function()
      refused_with(srv, {}, 401)
    end)
    it("with a token signed by another secret", function()
      refused_with(srv, { query = { token = token({ sub = "alice" }, "wrong") } }, 401)
    end)
    it("with an expired token", function()
      refused_with(srv, { query = { token = token { sub = "alice", exp = os.time() - 3600 } } }, 401)
    end)
    it("with a token without a subject", function()
      refused_with(srv, { query = { token = token { name = "nobody" } } }, 401)
    end)
    it("with a token without an expiry", function()
      refused_with(srv, { query = { token = jwt.sign({ sub = "alice" }, SECRET) } }, 401)
    end)
    it("with garbage", function()
      refused_with(srv, { query = { token = "abc.def" } }, 401)
    end)
  end)

  it("accepts a token in the Authorization header and takes the user id from sub", function()
    local c = assert(srv:connect { headers = { Authorization = "Bearer " .. token { sub = "header-user" } } })
    assert.equal("header-user", expect(c, "welcome").user)
    c:send_json { type = "whoami" }
    assert.equal("header-user", expect(c, "whoami").user)
  end)

  it("reaches every tab of a user with to_user, and no one else", function()
    local first, second, other = tab("alice"), tab("alice"), tab("bob")
    first:send_json { type = "sync", data = { note = "buy milk" } }
    for _, c in ipairs { first, second } do
      assert.same({ note = "buy milk" }, expect(c, "sync").data)
    end
    -- bob's next message is the one meant for him, not alice's sync
    other:send_json { type = "sync", data = "bob's own" }
    assert.equal("bob's own", expect(other, "sync").data)
  end)

  it("sends a direct message to all the recipient's tabs and the sender's", function()
    local a1, a2, carol = tab("dm-alice"), tab("dm-alice"), tab("dm-carol")
    carol:send_json { type = "dm", to = "dm-alice", text = "hi alice" }
    for _, c in ipairs { a1, a2, carol } do
      local m = expect(c, "dm")
      assert.equal("dm-carol", m.from)
      assert.equal("hi alice", m.text)
    end
    carol:send_json { type = "dm", to = "nobody-here", text = "hello?" }
    assert.equal("not_online", expect(carol, "error").code)
  end)

  it("tells a user's tabs how many are open", function()
    local first = tab("counted")
    assert.equal(1, expect(first, "tabs").count)
    local second = tab("counted")
    assert.equal(2, expect(first, "tabs").count)
    assert.equal(2, expect(second, "tabs").count)
    second:disconnect()
    assert.equal(1, expect(first, "tabs").count)
  end)

  it("refuses a sixth tab of one user with 429", function()
    for _ = 1, 5 do tab("busy") end
    refused_with(srv, { query = { token = token { sub = "busy" } } }, 429)
  end)

  it("does not serve the dev token route when a secret is set", function()
    assert.equal(404, (srv:http("GET", "/token?sub=alice")))
  end)
end)

describe("examples/auth in dev mode", function()
  local srv

  lazy_setup(function() srv = t.start(SCRIPT, nil, { env = { LUAHUB_AUTH_SECRET = "" } }) end)
  lazy_teardown(t.cleanup)

  it("mints a token at GET /token that opens a connection", function()
    local status, headers, body = srv:http("GET", "/token?sub=dev-user")
    assert.equal(200, status, body)
    assert.matches("^application/json", headers["content-type"])
    local answer = require("cjson").decode(body)
    assert.equal(3600, answer.expires_in)
    local c = assert(srv:connect { query = { token = answer.token } })
    assert.equal("dev-user", expect(c, "welcome").user)
  end)

  it("answers 400 for a missing or odd subject", function()
    assert.equal(400, (srv:http("GET", "/token")))
    assert.equal(400, (srv:http("GET", "/token?sub=%3Cscript%3E")))
  end)
end)

describe("examples/auth/mint-token.lua", function()
  it("prints a token the server's secret verifies", function()
    local p = io.popen("LUAHUB_AUTH_SECRET=" .. SECRET .. " luajit " .. AUTH_DIR .. "/mint-token.lua eve 60")
    local printed = p:read("*l")
    p:close()
    local claims = assert(jwt.verify(printed, SECRET))
    assert.equal("eve", claims.sub)
    assert.is_true(claims.exp > os.time())
  end)
end)
