-- `luahub --workers N`: a master and N worker processes on one port, sharing rooms and
-- broadcasts through a real redis-server, restarted when they die or hang, signalled as
-- one service. Every process is checked by PID.
local t = require "luahub.testing"
local sys = require "luahub.testing.sys"
local brokers = require "support.brokers"

-- Each worker answers "who" with its script's version and node id ("BASE-wI"); any
-- other text is broadcast to everyone, on every worker.
local function script(version)
  return ([[
local hub = require "luahub"
hub.handle(function(client, msg)
  if msg.data == "who" then client:send(%q .. " " .. hub.node_id())
  else hub.broadcast(msg) end
end)
]]):format(version)
end

local BROKEN = [[
local hub = require "luahub"
hub.handle(function() end)
error("this script is broken on purpose")
]]

local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  -- a zombie (Z) has exited; only its parent's wait removes it
  local state = f:read("*a"):match("^%d+ %b() (%a)")
  f:close()
  return state ~= "Z"
end

-- Worker index -> PID of its latest start, from the master's log.
local function worker_pids(srv)
  local pids = {}
  for i, pid in srv:log():gmatch("workers: worker (%d+) started %(pid (%d+)%)") do
    pids[tonumber(i)] = tonumber(pid)
  end
  return pids
end

local function who(c)
  assert(c:send("who"))
  local answer = assert(c:receive(5))
  local version, node, index = answer:match("^(%S+) (%S+%-w(%d+))$")
  assert(index, "unexpected answer to who: " .. answer)
  return tonumber(index), version, node
end

-- Connects until every one of n workers holds a client (the kernel picks a worker per
-- connection from its addresses and ports); returns index -> client, index -> node id.
local function one_client_per_worker(srv, n)
  local clients, nodes = {}, {}
  for _ = 1, 40 * n do
    local c = assert(srv:connect())
    local i, _, node = who(c)
    if clients[i] then c:disconnect() else clients[i], nodes[i] = c, node end
    local have = 0
    for _ in pairs(clients) do have = have + 1 end
    if have == n then return clients, nodes end
  end
  error("connections never reached all " .. n .. " workers")
end

-- The next message a client receives that is not an answer to "who".
local function next_broadcast(c, timeout)
  return c:receive_until(function(data) return not data:match("%-w%d+$") and data end, timeout)
end

local function cpu_seconds(pid)
  local f = assert(io.open("/proc/" .. pid .. "/stat"))
  local fields = {}
  for v in f:read("*a"):match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = v end
  f:close()
  -- utime and stime are fields 14 and 15 of stat; 12 and 13 after "pid (comm)"
  return (tonumber(fields[12]) + tonumber(fields[13])) / 100
end

describe("luahub --workers", function()
  brokers.need("redis")
  local broker
  lazy_setup(function() broker = brokers.start("redis") end)
  -- each test counts the broker's subscribers: no master of an earlier one may be left
  after_each(function() t.stop_all() end)
  lazy_teardown(function()
    t.cleanup()
    if broker then broker:stop() end
  end)

  -- watchdog: seconds (default 10); a short one is for the hang test only, since on a
  -- busy machine a worker starved of CPU for that long would be taken for hung
  local function start(n, version, extra_args, watchdog)
    local args = { "--workers", tostring(n), "--watchdog", tostring(watchdog or 10) }
    for _, a in ipairs(extra_args or {}) do args[#args + 1] = a end
    local path = sys.write_script(script(version or "v1"))
    local srv = t.start(path, { cluster = { adapter = "redis", url = broker:url(), node_id = "box", heartbeat = 1 } }, { args = args })
    assert(srv:wait_log("workers: all " .. n .. " workers ready", 10), srv:log())
    return srv
  end

  it("runs N workers on one port, each accepting connections under its own node id", function()
    local srv = start(3)
    local pids = worker_pids(srv)
    local seen = {}
    for i = 0, 2 do
      assert.is_true(alive(pids[i]), "worker " .. i)
      assert.is_nil(seen[pids[i]], "two workers with one PID")
      seen[pids[i]] = true
    end
    local _, nodes = one_client_per_worker(srv, 3)
    assert.same({ [0] = "box-w0", "box-w1", "box-w2" }, nodes)
    -- each log line names its process
    local log = srv:log()
    assert.truthy(log:find(" %[master%] workers: all 3 workers ready"), log)
    for i = 0, 2 do assert.truthy(log:find(" %[w" .. i .. "%] listening on "), log) end
    -- every worker counts its own connection: /metrics of any of them says 1
    t.eventually(function()
      local status, _, body = srv:http("GET", "/metrics")
      return status == 200 and body:match("\nluahub_connections 1\n")
    end, { message = "a worker does not count exactly its own client" })
  end)

  it("carries a broadcast to the clients of every worker through the broker", function()
    local srv = start(3)
    local clients = one_client_per_worker(srv, 3)
    t.eventually(function() return broker:subscribers("luahub.all") == 3 end,
                 { message = "the three workers never all subscribed to luahub.all" })
    assert(clients[1]:send("hello from worker 1"))
    for i = 0, 2 do assert.equal("hello from worker 1", next_broadcast(clients[i])) end
  end)

  it("restarts a worker killed with SIGKILL while the others keep delivering", function()
    local srv = start(3)
    local clients = one_client_per_worker(srv, 3)
    local old = worker_pids(srv)[2]
    assert(sys.run("kill -KILL " .. old))
    clients[2]:wait_closed(5)
    assert(clients[0]:send("during the restart"))
    assert.equal("during the restart", next_broadcast(clients[1]))
    assert.equal("during the restart", next_broadcast(clients[0]))
    t.eventually(function()
      local now = worker_pids(srv)[2]
      return now ~= old and srv:log():find("worker 2 (pid " .. now .. ") is ready", 1, true)
    end, { timeout = 10, message = "worker 2 was not restarted" })
    assert.is_false(alive(old))
    assert.truthy(srv:log():find("worker 2 (pid " .. old .. ") was killed by signal 9", 1, true))
    -- the new worker 2 takes connections and receives broadcasts from the others
    local again = one_client_per_worker(srv, 3)
    t.eventually(function() return broker:subscribers("luahub.all") == 3 end)
    assert(again[0]:send("after the restart"))
    assert.equal("after the restart", next_broadcast(again[2]))
  end)

  it("replaces a worker that stops answering (SIGSTOP) after the watchdog", function()
    local srv = start(2, "v1", nil, 2)
    local clients = one_client_per_worker(srv, 2)
    local old = worker_pids(srv)[1]
    assert(sys.run("kill -STOP " .. old))
    t.eventually(function() return worker_pids(srv)[1] ~= old end,
                 { timeout = 10, message = "the stopped worker was not replaced" })
    assert.truthy(srv:log():match("worker 1 %(pid " .. old .. "%) sent no watchdog ping for [%d.]+s %(stopped or hung%): killing it"))
    t.eventually(function() return not alive(old) end, { message = "the stopped worker is still there" })
    assert(clients[0]:send("still serving"))
    assert.equal("still serving", next_broadcast(clients[0]))
  end)

  it("reloads every worker on SIGHUP", function()
    local srv = start(3, "v1")
    local clients = one_client_per_worker(srv, 3)
    sys.link(sys.write_script(script("v2")), srv.script)
    assert(srv:signal("HUP"))
    for i = 0, 2 do
      t.eventually(function() return select(2, who(clients[i])) == "v2" end,
                   { message = "worker " .. i .. " still runs v1" })
    end
    assert(srv:wait_log("every worker has reloaded", 5))
  end)

  it("drains and stops every worker on SIGTERM, exiting 0 with no process left", function()
    local srv = start(3)
    local clients = one_client_per_worker(srv, 3)
    local pids = worker_pids(srv)
    assert(srv:signal("TERM"))
    -- drain: clients that stay idle are closed with 1001 after drain_timeout; a second
    -- signal closes them at once
    assert(srv:wait_log("workers: signal 15: stopping 3 workers", 5))
    -- a second SIGTERM that reached a worker before it handled the first would merge
    -- with it (signals of one kind are not queued): wait until each is draining
    t.eventually(function() return select(2, srv:log():gsub("%] signal 15: draining", "")) == 3 end,
                 { message = "not every worker began to drain" })
    assert(srv:signal("TERM"))
    for i = 0, 2 do t.assert_closed_with(1001, clients[i], 5) end
    t.eventually(function() return not srv:is_running() end, { message = "the master did not exit" })
    assert.equal(0, srv.exit_status)
    for i = 0, 2 do assert.is_false(alive(pids[i]), "worker " .. i .. " (pid " .. pids[i] .. ") is left") end
  end)

  it("stops every worker when the process named by --parent-pid ends", function()
    local p = assert(io.popen("sleep 60 >/dev/null 2>&1 & echo $!"))
    local sleeper = tonumber(p:read("*l"))
    p:close()
    local srv = start(2, "v1", { "--parent-pid", tostring(sleeper) })
    local pids = worker_pids(srv)
    assert(sys.run("kill " .. sleeper))
    t.eventually(function() return not srv:is_running() end, { message = "the master did not stop" })
    for i = 0, 1 do
      t.eventually(function() return not alive(pids[i]) end, { message = "worker " .. i .. " is left" })
    end
  end)

  it("leaves no worker behind when the master is killed with SIGKILL", function()
    local srv = start(2)
    local pids = worker_pids(srv)
    assert(srv:signal("KILL"))
    for i = 0, 1 do
      t.eventually(function() return not alive(pids[i]) end, { message = "worker " .. i .. " outlived its master" })
    end
  end)

  it("refuses a bad --workers count or a --watchdog without --workers, saying why", function()
    local path = sys.write_script(script("v1"))
    local function run(args)
      local out = sys.command_output(sys.shell_quote(t.binary()) .. " " .. args .. " " .. sys.shell_quote(path)
                                     .. " 2>&1; echo \"exit:$?\"")
      return tonumber(out:match("exit:(%d+)%s*$")), out
    end
    local status, out = run("--workers 0")
    assert.equal(1, status)
    assert.truthy(out:find("--workers '0' is not auto or a number from 1 to 64", 1, true), out)
    status, out = run("--watchdog 5")
    assert.equal(1, status)
    assert.truthy(out:find("--watchdog goes with --workers", 1, true), out)
    status, out = run("--workers 2 --watchdog soon")
    assert.equal(1, status)
    assert.truthy(out:find("--watchdog 'soon' is not a number of seconds", 1, true), out)
  end)

  it("reports a script that fails at start once and exits 1 without starting the others", function()
    local srv = t.start(sys.write_script(BROKEN), nil, { args = { "--workers", "3" }, expect_fail = true, timeout = 10 })
    assert.equal(1, srv.exit_status)
    local log = srv:log()
    local _, reports = log:gsub("this script is broken on purpose", "")
    assert.equal(1, reports, log)
    assert.truthy(log:find("worker 0 (pid ", 1, true))
    assert.truthy(log:find("before it was ready (its log above says why): not starting the service", 1, true))
    assert.is_nil(log:find("worker 1 started", 1, true))
  end)

  it("exits 1 with the reason when the port is taken by another program", function()
    local taken = assert(require("socket").bind("127.0.0.1", 0))
    local _, port = taken:getsockname()
    -- (t.start cannot wait for this failure: the taken port accepts connections)
    local log = sys.command_output(("timeout 20 %s --workers 2 --listen 127.0.0.1:%d %s 2>&1; echo \"exit:$?\""):format(
      sys.shell_quote(t.binary()), port, sys.shell_quote(sys.write_script(script("v1")))))
    taken:close()
    assert.equal("1", log:match("exit:(%d+)%s*$"), log)
    assert.truthy(log:find("cannot listen on 127.0.0.1:" .. port, 1, true), log)
    assert.truthy(log:find("not starting the service", 1, true), log)
  end)

  it("restarts a worker whose script broke with growing delays, not in a loop", function()
    local srv = start(2)
    local clients = one_client_per_worker(srv, 2)
    sys.link(sys.write_script(BROKEN), srv.script)
    local cpu_before = cpu_seconds(srv.pid)
    assert(sys.run("kill -KILL " .. worker_pids(srv)[1]))
    -- 0.1 + 0.2 + 0.4 + 0.8 + 1.6 s: the 5th failure in a row comes about 3 s later
    assert(srv:wait_log("failure 5 in a row", 10), srv:log())
    local log = srv:log()
    assert.truthy(log:find("[w1] ", 1, true) and log:find("this script is broken on purpose", 1, true))
    assert.truthy(log:match("worker 1 %(pid %d+%) exited with status 1 before it was ready %(its log above says why%); restarting it in 1%.6s"))
    assert.is_nil(log:find("failure 7 in a row", 1, true))
    assert.is_true(cpu_seconds(srv.pid) - cpu_before < 0.5, "the master spun")
    -- the other worker serves on; the fixed script brings worker 1 back
    assert(clients[0]:send("worker 0 serves"))
    assert.equal("worker 0 serves", next_broadcast(clients[0]))
    sys.link(sys.write_script(script("v3")), srv.script)
    t.eventually(function() return select(2, srv:log():gsub("worker 1 %(pid %d+%) is ready", "")) == 2 end,
                 { timeout = 15, message = "worker 1 did not come back with the fixed script" })
    local again = one_client_per_worker(srv, 2)
    assert.equal("v3", select(2, who(again[1])))
  end)
end)
