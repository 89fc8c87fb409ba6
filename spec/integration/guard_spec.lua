-- Runaway scripts (script_timeout, script_memory): a call that runs too long is
-- interrupted where the VM allows, and where it cannot (a JIT-compiled loop) the server
-- exits for its supervisor to restart it; a script that allocates without bound gets an
-- error, not gigabytes.
local t = require "luahub.testing"

local LOOPS = [[
local hub = require "luahub"
hub.config { script_timeout = 0.5, script_memory = 64 * 1024 * 1024 }
hub.handle(function(client, msg)
  if msg.data == "compiled" then while true do end end
  if msg.data == "interpreted" then while true do for _ in pairs({ 1 }) do end end end
  if msg.data == "allocating" then local t = {} while true do t[#t % 64 + 1] = { 1, 2, 3 } end end
  if msg.data == "hoarding" then local t = {} while true do t[#t + 1] = string.rep("x", 1024) .. #t end end
  client:send(msg.data)
end)
hub.on("on_error", function(client, err) if client then client:send("error: " .. tostring(err)) end end)
]]

describe("a handler that runs past script_timeout", function()
  lazy_teardown(t.cleanup)
  local srv
  lazy_setup(function() srv = t.start(t.write_script(LOOPS)) end)

  for _, case in ipairs { "interpreted", "allocating" } do
    it(("is interrupted in-process when its loop is %s, and the server goes on"):format(case), function()
      local c = assert(srv:connect())
      local other = assert(srv:connect())
      c:send(case)
      local err = assert(c:receive(5))
      assert.truthy(err:match("^error: ") and (err:match("script_timeout") or err:match("not enough memory")), err)
      assert.truthy(srv:wait_log("script_timeout: the message handler at [^ ]+:3 ran longer than 0.5s"), srv:log())
      -- everyone, the offender included, is served again
      other:send("ping")
      assert.equal("ping", other:receive(3))
      c:send("again")
      assert.equal("again", c:receive(3))
    end)
  end

  it("fails with not enough memory past script_memory, and the server goes on", function()
    -- its own server with a time budget the allocation cannot reach first, even on a
    -- loaded machine (64 MiB of strings can take more than 0.5 s there)
    local srv = t.start(t.write_script(LOOPS), { script_timeout = 20 })
    local c = assert(srv:connect())
    c:send("hoarding")
    assert.truthy(srv:wait_log("script_memory: the message handler at [^ ]+:3 reached the 67108864%-byte limit", 10),
      srv:log())
    c:send("after")
    -- (the on_error hook's report of the failure may come first)
    assert.truthy(c:receive_until(function(data) return data == "after" end, 3))
  end)
end)

describe("a handler stuck in a compiled loop (while true do end)", function()
  lazy_teardown(t.cleanup)

  it("is logged with its location and the server exits for its supervisor, which serves again", function()
    -- the supervisor: restarts the server when it exits with the guard's status 3, as
    -- systemd's Restart= does (examples/deploy/luahub.service)
    local real = t.binary()
    local dir = t.tmpdir()
    local supervisor = dir .. "/supervise"
    t.write_file(supervisor, ([[#!/bin/sh
trap 'kill -TERM $child 2>/dev/null; wait $child; exit 0' TERM INT
while :; do
  '%s' "$@" & child=$!
  wait $child; status=$?
  echo "exit $status" >>'%s/exits'
  [ $status -eq 3 ] || exit $status
done
]]):format(real, dir))
    os.execute("chmod +x '" .. supervisor .. "'")
    local srv = t.start(t.write_script(LOOPS), nil, { binary = supervisor })
    local c = assert(srv:connect())
    c:send("compiled")
    assert.truthy(srv:wait_log("script_timeout: the message handler at [^ ]+:3 has run for [%d.]+s and " ..
      "cannot be interrupted %(a JIT%-compiled loop%): exiting with status 3", 10), srv:log())
    -- a fresh process serves again
    local again = t.eventually(function() return srv:connect { timeout = 1 } end,
      { timeout = 10, message = "no server answered after the exit" })
    again:send("hello")
    assert.equal("hello", again:receive(3))
    local exits = io.open(dir .. "/exits"):read("*a")
    assert.truthy(exits:match("exit 3"), exits)
    srv:stop()
  end)
end)

describe("a script that loops at load", function()
  lazy_teardown(t.cleanup)

  it("fails its reload with script_timeout, and the running script keeps serving", function()
    local path = t.write_script [[
local hub = require "luahub"
hub.config { script_timeout = 0.5 }
hub.handle(function(client, msg) client:send("v1 " .. msg.data) end)
]]
    local srv = t.start(path)
    local c = assert(srv:connect())
    t.write_file(path, [[
local hub = require "luahub"
while true do end
]])
    srv:signal("HUP")
    srv:wait_log("reload of .* failed, keeping the running script: .*script_timeout", 10)
    c:send("x")
    assert.equal("v1 x", c:receive(3))
    srv:stop()
  end)
end)

describe("under a service manager (NOTIFY_SOCKET)", function()
  lazy_teardown(t.cleanup)

  it("reports ready, reloading and stopping, and pings the watchdog from its loop", function()
    local unix = require "socket.unix"
    local path = t.tmpdir() .. "/notify.sock"
    local manager = unix.dgram()
    assert(manager:bind(path))
    manager:settimeout(0.1)
    local got = {}
    local function expect(state, seconds)
      return t.eventually(function()
        local msg = manager:receive()
        if msg then got[#got + 1] = msg end
        for _, m in ipairs(got) do if m == state then return true end end
      end, { timeout = seconds or 5, message = "no " .. state .. " (got: " .. table.concat(got, ", ") .. ")" })
    end
    local srv = t.start(t.write_script [[
local hub = require "luahub"
hub.handle(function(client, msg) client:send(msg.data) end)
]], nil, { env = { NOTIFY_SOCKET = path, WATCHDOG_USEC = "200000" } })
    expect("READY=1")
    got = {}
    expect("WATCHDOG=1", 2)
    got = {}
    srv:signal("HUP")
    expect("RELOADING=1")
    expect("READY=1")
    got = {}
    srv:signal("TERM")
    expect("STOPPING=1")
    manager:close()
  end)
end)

describe("a stop signal while a script call holds the loop", function()
  lazy_teardown(t.cleanup)

  local STUCK = [[
local hub = require "luahub"
hub.config { script_timeout = 60, drain_timeout = 0.5 }
hub.handle(function(client, msg)
  if msg.data == "compiled" then while true do end end
  if msg.data == "interpreted" then while true do for _ in pairs({ 1 }) do end end end
  client:send(msg.data)
end)
]]

  it("ends an interruptible call at once, then drains and exits 0", function()
    local srv = t.start(t.write_script(STUCK))
    local c = assert(srv:connect())
    c:send("interpreted")
    assert.truthy(srv:wait_log("ran longer than", 0.3) == nil)   -- script_timeout is 60 s
    srv:signal("TERM")
    t.eventually(function() return not srv:is_running() end,
      { timeout = 5, message = "the server did not stop" })
    assert.equal(0, srv.exit_status)
    assert.truthy(srv:log():match("script_timeout: the message handler at [^ ]+:3 was interrupted: the server is stopping"),
      srv:log())
  end)

  it("exits within seconds when the call cannot be interrupted", function()
    local srv = t.start(t.write_script(STUCK))
    local c = assert(srv:connect())
    c:send("compiled")
    srv:signal("TERM")
    t.eventually(function() return not srv:is_running() end,
      { timeout = 5, message = "the server did not stop" })
    assert.equal(3, srv.exit_status)
  end)
end)

describe("reloads", function()
  lazy_teardown(t.cleanup)

  it("free the Lua state they replace: a hundred of them leave the server's size where it was", function()
    local path = t.write_script [[
local hub = require "luahub"
hub.handle(function(client, msg) client:send(msg.data) end)
]]
    -- (under ASan, freed memory waits in a quarantine first: keep it small, so that
    -- what is measured is what is live)
    local srv = t.start(path, nil, { env = { ASAN_OPTIONS = "quarantine_size_mb=1" } })
    local function reload_once()
      local before = select(2, srv:log():gsub("reloaded", ""))
      srv:signal("HUP")
      t.eventually(function() return select(2, srv:log():gsub("reloaded", "")) > before end,
        { timeout = 5, message = "no reload" })
    end
    for _ = 1, 10 do reload_once() end   -- warm up the allocator
    local before = srv:rss_kib()
    for _ = 1, 100 do reload_once() end
    local grown = srv:rss_kib() - before
    -- the arena of a state with the luahub modules loaded is about 250 KiB: a hundred
    -- kept would be 25 MB
    assert.is_true(grown < 6 * 1024, ("100 reloads grew the server by %d KiB"):format(grown))
    srv:stop()
  end)
end)
