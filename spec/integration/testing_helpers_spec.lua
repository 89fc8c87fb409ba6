-- luahub.testing's promises to a user's spec: expect_json and expect_silence, a reload
-- that returns once the new script serves and never writes the user's script, and
-- servers that stop when the spec process ends, even killed with SIGKILL.
local t = require "luahub.testing"

-- Answers "burst" with three ticks then a reply, "quiet" with nothing, "bye" with a close.
local CHATTY = [[
local hub = require "luahub"
hub.handle(function(client, msg)
  if msg.data == "burst" then
    for i = 1, 3 do client:send_json { type = "tick", n = i } end
    client:send("not json")
    client:send_json { type = "reply", text = "done" }
  elseif msg.data == "bye" then
    client:close(4000, "asked to")
  end
end)
]]

-- The same hub at any version: every reply names the version serving it.
local function version(v)
  return ([[
local hub = require "luahub"
hub.handle(function(client, msg) client:send("%s:" .. msg.data) end)
]]):format(v)
end

-- The error fn raises, as a string.
local function failure(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

describe("client:expect_json and client:expect_silence", function()
  local srv
  lazy_setup(function() srv = t.start(t.write_script(CHATTY)) end)
  lazy_teardown(t.cleanup)

  it("expect_json returns the next message of a type, decoded, skipping the others", function()
    local c = assert(srv:connect())
    c:send("burst")
    assert.same({ type = "reply", text = "done" }, c:expect_json("reply"))
    c:send("burst")
    assert.same({ type = "tick", n = 1 }, c:expect_json())
  end)

  it("expect_json fails naming what it skipped, and when the connection closes", function()
    local c = assert(srv:connect())
    c:send("burst")
    local err = failure(function() c:expect_json("welcome", 0.3) end)
    assert.matches('expected a JSON message of type "welcome", got none within 0.3s; skipped 5:', err, 1, true)
    assert.matches('"not json"', err, 1, true)
    c:send("bye")
    err = failure(function() c:expect_json("welcome") end)
    assert.matches('the connection closed (4000 "asked to")', err, 1, true)
  end)

  it("expect_silence passes when nothing arrives, and fails on a message or a close", function()
    local c = assert(srv:connect())
    c:send("quiet")
    assert.is_true(c:expect_silence(0.2))
    c:send("burst")
    assert.matches('expected no message for 0.2s, got "{', failure(function() c:expect_silence(0.2) end), 1, true)
    c:send("bye")
    c:expect_json("reply")
    assert.matches("but the connection closed %(4000", failure(function() c:expect_silence(0.2) end))
  end)
end)

describe("srv:reload", function()
  lazy_teardown(t.cleanup)

  it("returns once the new script serves: 30 reloads in a row, every reply from the new one", function()
    local path = t.write_script(version("v0"))
    local srv = t.start(path)
    local c = assert(srv:connect())
    for i = 1, 30 do
      assert.is_true(srv:reload(t.write_script(version("v" .. i))))
      c:send("m")
      assert.equal("v" .. i .. ":m", c:receive())
    end
    assert.equal(version("v0"), t.read_file(path), "the user's script was written")
    srv:stop()
  end)

  it("says why a script was refused, and the running one keeps serving", function()
    local srv = t.start(t.write_script(version("v1")))
    local c = assert(srv:connect())
    local broken = t.write_script("local hub = require 'luahub'\nhub.handle(function(\n")
    local ok, why = srv:reload(broken)
    assert.is_false(ok)
    assert.matches("reload of .* failed, keeping the running script: " .. broken:gsub("%p", "%%%0") .. ":3:", why)
    c:send("m")
    assert.equal("v1:m", c:receive())
    t.write_file(broken, version("v2"))
    assert.is_true(srv:reload())   -- no path: the file last given, read again
    c:send("m")
    assert.equal("v2:m", c:receive())
    srv:stop()
  end)
end)

describe("time_scale", function()
  lazy_teardown(t.cleanup)

  it("fires a script's long timers and sleeps at the scale asked, without waiting real time", function()
    local srv = t.start(t.write_script([[
local hub = require "luahub"
local ticks = 0
hub.every(30, function() ticks = ticks + 1 end)
hub.handle(function(client, msg)
  if msg.data == "ticks" then return client:send(tostring(ticks)) end
  local started = hub.now()
  hub.sleep(60)
  client:send(("slept %.1f"):format(hub.now() - started))
end)
]]), nil, { time_scale = 0.01 })
    local c = assert(srv:connect())
    -- every 30 s of script time is 0.3 s here: a few ticks within a couple of seconds
    assert.truthy(t.eventually(function()
      c:send("ticks")
      local ticks = c:receive(2)
      return tonumber(ticks) >= 3
    end, { timeout = 5 }))
    c:send("sleep")
    local got = assert(c:receive(5))
    local slept = tonumber(got:match("^slept (%S+)"))
    -- 60 s of script time took about 0.6 s of the clock hub.now reads
    assert.truthy(slept and slept >= 0.5 and slept < 3, got)
  end)
end)

describe("a spec process killed with SIGKILL", function()
  lazy_teardown(t.cleanup)

  it("leaves the user's script as it was and no server running", function()
    local dir = t.tmpdir()
    local user_script = t.write_file(dir .. "/hub.lua", version("mine"))
    local report = dir .. "/report"
    -- The inner spec starts a server on the user's script, reloads it with another one,
    -- reports the server's PID and its own, and waits to be killed.
    t.write_file(dir .. "/inner_spec.lua", ([[
local t = require "luahub.testing"
it("is killed while its server runs", function()
  local srv = t.start(%q)
  assert(srv:reload(t.write_script(%q)))
  local c = assert(srv:connect())
  c:send("m")
  assert(c:receive() == "other:m")
  local me = io.popen("echo $PPID"):read("*l")
  t.write_file(%q, srv.pid .. " " .. me .. "\n")
  require("socket").sleep(60)
end)
]]):format(user_script, version("other"), report))
    local root = io.popen(("cd %q && pwd"):format(t.repo_root())):read("*l")
    local lua_path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;;"
    local launcher = io.popen(("cd %q && LUA_PATH=%q LUAHUB_BIN=%q busted --lua=luajit inner_spec.lua >busted.log 2>&1 &")
      :format(dir, lua_path, t.binary()))
    launcher:close()
    local server_pid, spec_pid = t.eventually(function()
      return (t.read_file(report) or ""):match("^(%d+) (%d+)\n")
    end, { timeout = 10, message = "the inner spec never reported" })
    assert.is_true(os.execute("kill -0 " .. server_pid) == 0, "the inner spec's server is not running")
    assert.equal(0, os.execute("kill -KILL " .. spec_pid))
    t.eventually(function() return os.execute("kill -0 " .. server_pid .. " 2>/dev/null") ~= 0 end,
      { timeout = 5, message = "the server outlived the spec process that started it" })
    assert.equal(version("mine"), t.read_file(user_script))
  end)
end)
