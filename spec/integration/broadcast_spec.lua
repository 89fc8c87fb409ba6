-- Fan-out with examples/broadcast: every text message reaches every client.
local socket = require "socket"
local t = require "luahub.testing"
local hubs = require "support.hubs"

describe("examples/broadcast", function()
  local srv

  lazy_setup(function() srv = t.start(hubs.example("broadcast")) end)
  lazy_teardown(t.cleanup)

  it("delivers a message to every connected client, the sender included", function()
    local clients = { assert(srv:connect()), assert(srv:connect()), assert(srv:connect()) }
    clients[2]:send("hello all")
    for i, c in ipairs(clients) do
      local data, kind = c:receive(3)
      assert.equal("hello all", data, "client " .. i)
      assert.equal("text", kind)
    end
    for _, c in ipairs(clients) do c:disconnect() end
  end)

  it("delivers one message to 1000 connected clients exactly once", function()
    local fd_limit = tonumber(io.popen("ulimit -n"):read("*l"))
    if fd_limit and fd_limit < 2100 then
      pending(("needs 1000 client sockets and 1000 server sockets, but ulimit -n is %d"):format(fd_limit))
      return
    end
    local clients = {}
    for i = 1, 1000 do
      clients[i] = assert(srv:connect())
    end
    local started = socket.gettime()
    clients[1]:send("to the thousand")
    for i, c in ipairs(clients) do
      local data, err = c:receive(math.max(0.01, started + 10 - socket.gettime()))
      assert.equal("to the thousand", data, ("client %d: %s"):format(i, tostring(err)))
    end
    -- A second, different message must be the next thing every client sees:
    -- a duplicate of the first would arrive before it.
    clients[1000]:send("second")
    for i, c in ipairs(clients) do
      local data, err = c:receive(math.max(0.01, started + 15 - socket.gettime()))
      assert.equal("second", data, ("client %d: %s"):format(i, tostring(err)))
    end
    for _, c in ipairs(clients) do c:disconnect() end
  end)
end)
