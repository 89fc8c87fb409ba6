-- client:header() and client:query() answer from the upgrade request the core keeps
-- packed (core/reqhead.c): the handshake's own headers (stored as one byte when they
-- carry the usual value), other names under any spelling, an empty value, and the query.
local t = require "luahub.testing"

local SCRIPT = [[
local hub = require "luahub"
hub.handle(function(client, msg)
  local v = client:header(msg.data)
  if msg.data == "?room" then v = client:query("room") end
  client:send(v == nil and "(nil)" or "[" .. v .. "]")
end)
]]

describe("client:header and client:query", function()
  local srv, c, key

  lazy_setup(function()
    srv = t.start(t.write_script(SCRIPT))
    c = assert(srv:connect {
      query = { room = "lobby one" },
      headers = { ["X-Custom"] = "  spaced value ", ["Cache-Control"] = "no-cache", Pragma = "private",
                  ["X-Empty"] = "" },
    })
    key = c.key
  end)
  lazy_teardown(t.cleanup)

  local function ask(name)
    c:send(name)
    return c:receive()
  end

  it("give the handshake's headers as sent", function()
    assert.equal("[websocket]", ask("Upgrade"))
    assert.equal("[Upgrade]", ask("connection"))
    assert.equal("[13]", ask("SEC-WEBSOCKET-VERSION"))
    assert.equal("[" .. key .. "]", ask("Sec-WebSocket-Key"))
    assert.equal("[127.0.0.1:" .. srv.port .. "]", ask("Host"))
  end)

  it("give any other header, blanks trimmed, and nil for one not sent", function()
    assert.equal("[spaced value]", ask("x-custom"))
    assert.equal("[no-cache]", ask("Cache-Control"))
    assert.equal("[private]", ask("Pragma"))
    assert.equal("[]", ask("X-Empty"))
    assert.equal("(nil)", ask("X-Missing"))
    assert.equal("(nil)", ask("Upgrad"))
  end)

  it("give the query's parameters", function()
    assert.equal("[lobby one]", ask("?room"))
  end)
end)
