-- RFC 6455 section 4: the opening handshake, subprotocols and the origin policy.
local t = require "luahub.testing"
local hubs = require "support.hubs"

describe("the opening handshake", function()
  local srv

  lazy_setup(function()
    srv = hubs.start_echo { subprotocols = { "chat.v1" } }
  end)
  lazy_teardown(t.cleanup)

  it("answers 101 with Upgrade, Connection and the Sec-WebSocket-Accept derived from the key", function()
    local c = assert(srv:connect())
    assert.equal(101, c.status)
    assert.equal(t.accept_key(c.key), c.headers["sec-websocket-accept"])
    assert.equal("websocket", (c.headers["upgrade"] or ""):lower())
    assert.truthy((c.headers["connection"] or ""):lower():find("upgrade", 1, true))
    c:send("hello")
    assert.equal("hello", c:receive())
  end)

  it("answers the RFC 6455 sample key with the RFC's accept value", function()
    local c = assert(srv:connect { headers = { ["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ==" } })
    assert.equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", c.headers["sec-websocket-accept"])
  end)

  it("accepts a Connection header listing several tokens, as Firefox sends it", function()
    local c = assert(srv:connect { headers = { Connection = "keep-alive, Upgrade" } })
    c:send("firefox")
    assert.equal("firefox", c:receive())
  end)

  it("accepts header names and the websocket token in any letter case", function()
    local c = assert(srv:connect { headers = { UPGRADE = "WebSocket", connection = "upgrade",
      ["sec-websocket-version"] = "13" } })
    c:send("case")
    assert.equal("case", c:receive())
  end)

  it("refuses a request without Sec-WebSocket-Key with 400", function()
    hubs.assert_refused(srv, { headers = { ["Sec-WebSocket-Key"] = false } }, 400)
  end)

  it("refuses a Sec-WebSocket-Key that is not 16 base64-encoded bytes with 400", function()
    hubs.assert_refused(srv, { headers = { ["Sec-WebSocket-Key"] = "c2hvcnQ=" } }, 400)
    hubs.assert_refused(srv, { headers = { ["Sec-WebSocket-Key"] = "not base64 at all!!!!!==" } }, 400)
  end)

  it("answers 426 with Sec-WebSocket-Version: 13 to a client speaking another version", function()
    local _, headers = hubs.assert_refused(srv, { headers = { ["Sec-WebSocket-Version"] = "8" } }, 426)
    assert.equal("13", headers["sec-websocket-version"])
  end)

  it("refuses an upgrade requested with POST (400 or 405)", function()
    hubs.assert_refused(srv, { method = "POST" }, { 400, 405 })
  end)

  it("refuses a request without the Upgrade header with 400", function()
    hubs.assert_refused(srv, { headers = { Upgrade = false } }, 400)
  end)

  it("refuses a request whose Connection header does not contain Upgrade with 400", function()
    hubs.assert_refused(srv, { headers = { Connection = false } }, 400)
    hubs.assert_refused(srv, { headers = { Connection = "keep-alive" } }, 400)
  end)

  it("answers 404 to an upgrade on a path other than ws_path", function()
    hubs.assert_refused(srv, { path = "/not-the-socket" }, 404)
  end)

  it("answers 400 to a malformed request line and closes the connection", function()
    for _, request in ipairs { "THIS IS NOT HTTP\r\n\r\n", "GET\r\n\r\n", "GET /ws HTTP/1.1 extra\r\n\r\n" } do
      local response, how = srv:raw(request, 3)
      assert.equal("closed", how, ("no close after %q"):format(request))
      assert.truthy(response:match("^HTTP/1%.[01] 400 "), ("for %q got %q"):format(request, response:sub(1, 80)))
    end
  end)

  describe("subprotocol negotiation with subprotocols = { 'chat.v1' }", function()
    it("selects chat.v1 when the client offers it among others", function()
      local c = assert(srv:connect { protocols = { "x.v0", "chat.v1" } })
      assert.equal("chat.v1", c.protocol)
    end)

    it("answers without Sec-WebSocket-Protocol when no offered subprotocol is configured", function()
      local c = assert(srv:connect { protocols = { "other.v9" } })
      assert.is_nil(c.protocol)
    end)

    it("answers without Sec-WebSocket-Protocol when the client offers none", function()
      local c = assert(srv:connect())
      assert.is_nil(c.protocol)
    end)
  end)
end)

describe("the origin policy", function()
  lazy_teardown(t.cleanup)

  describe("origins = 'same'", function()
    local srv
    lazy_setup(function() srv = hubs.start_echo { origins = "same" } end)

    it("accepts a client that sends no Origin", function()
      assert(srv:connect())
    end)

    it("accepts an Origin whose host and port equal the Host header", function()
      assert(srv:connect { origin = "http://127.0.0.1:" .. srv.port })
    end)

    it("refuses another site with 403", function()
      hubs.assert_refused(srv, { origin = "http://evil.example" }, 403)
    end)

    it("refuses the same host on another port with 403", function()
      hubs.assert_refused(srv, { origin = "http://127.0.0.1:" .. (srv.port == 1 and 2 or srv.port - 1) }, 403)
    end)
  end)

  describe("origins = '*'", function()
    local srv
    lazy_setup(function() srv = hubs.start_echo { origins = "*" } end)

    it("accepts any Origin", function()
      assert(srv:connect { origin = "http://evil.example" })
      assert(srv:connect { origin = "http://127.0.0.1:" .. srv.port })
    end)
  end)

  describe("origins = { 'http://good.example' }", function()
    local srv
    lazy_setup(function() srv = hubs.start_echo { origins = { "http://good.example" } } end)

    it("accepts a listed Origin", function()
      assert(srv:connect { origin = "http://good.example" })
    end)

    it("refuses an Origin that is not listed with 403", function()
      hubs.assert_refused(srv, { origin = "http://evil.example" }, 403)
      hubs.assert_refused(srv, { origin = "http://good.example.evil.example" }, 403)
    end)
  end)
end)
