-- The accept loop: connections that queued on the port while the loop was busy are all
-- taken in the next loop pass. Before, a pass took 64: a worker of `luahub --workers`
-- whose every pass wrote a broadcast to 10,000 clients took the reconnects of a killed
-- worker 64 a second (docs/benchmarks.md, "The whole box"). Fails on that code.
local t = require "luahub.testing"
local sys = require "luahub.testing.sys"
local socket = require "socket"

-- "hold MARKER FIFO": the handler creates MARKER, then waits in the FIFO's open and read
-- until the spec writes a line to it, holding the loop in this pass meanwhile.
local HOLD = [[
local hub = require "luahub"
hub.handle(function(client, msg)
  local marker, fifo = msg.data:match("^hold (%S+) (%S+)$")
  if not marker then return end
  assert(io.open(marker, "w")):close()
  local f = assert(io.open(fifo, "r"))
  f:read("*l")
  f:close()
end)
]]

-- More than five passes' worth at 64 a pass, well under the listen backlog (4096, or
-- net.core.somaxconn if lower, 4096 by default) so the kernel queues every one.
local QUEUED = 350

describe("connections queued on the port while the loop is held", function()
  lazy_teardown(t.cleanup)

  it("are all accepted in one loop pass", function()
    local dir = t.tmpdir()
    -- script_timeout 0: the hold is the point, the guard must not end it
    local srv = t.start(t.write_script(HOLD), { script_timeout = 0 })
    local c = assert(srv:connect())
    local function marker(k) return ("%s/holding-%d"):format(dir, k) end
    local function fifo(k) return ("%s/release-%d"):format(dir, k) end
    -- Sends hold k; the server reads it in a later pass (the current one is held).
    local function hold(k)
      assert(sys.run("mkfifo " .. sys.shell_quote(fifo(k))), "mkfifo " .. fifo(k))
      assert(c:send(("hold %s %s"):format(marker(k), fifo(k))))
    end
    local function wait_held(k)
      t.eventually(function() return sys.file_exists(marker(k)) end,
                   { timeout = 10, message = "the server never reached hold " .. k })
    end
    local function release(k)
      -- the writer's open waits for the server's (it is in it, or about to be)
      assert(sys.run("timeout 10 sh -c " .. sys.shell_quote("echo go > " .. sys.shell_quote(fifo(k)))),
             "release " .. k)
    end

    hold(1)
    wait_held(1)
    local before = assert(srv:open_fds())
    local queued = {}
    for i = 1, QUEUED do
      local s = socket.tcp4()
      s:settimeout(5)
      -- the kernel completes the handshake and queues the connection for accept()
      assert(s:connect(srv.host, srv.port))
      queued[i] = s
    end
    assert.equal(before, srv:open_fds(), "the loop was not held: it accepted meanwhile")
    -- Each later pass runs the handler of the hold queued before it, and at most one
    -- accept pass: libev may run the client's read before the listener's in a pass,
    -- so the count is read after each of two passes.
    local accepted = {}
    for k = 2, 3 do
      hold(k)
      release(k - 1)
      wait_held(k)
      accepted[#accepted + 1] = srv:open_fds() - before
    end
    release(3)
    local counts = "accepted after each pass: " .. table.concat(accepted, ", ")
    assert.is_true(accepted[1] == 0 or accepted[1] == QUEUED, counts)
    assert.equal(QUEUED, accepted[2], counts)
    for _, s in ipairs(queued) do s:close() end
    -- and the server goes on serving
    assert(c:send("hello"))
    srv:stop()
  end)
end)
