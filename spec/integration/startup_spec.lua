-- Starting, checking and stopping the server from the command line.
local t = require "luahub.testing"
local hubs = require "support.hubs"

local BROKEN = [[
local hub = require "luahub"
hub.handle(function(client, msg
  client:send(msg.data)
end)
]]

describe("the luahub command", function()
  lazy_teardown(t.cleanup)

  it("logs the address it listens on", function()
    local srv = hubs.start_echo()
    assert.truthy(srv:wait_log("listening on 127%.0%.0%.1:" .. srv.port, 3), srv:log())
  end)

  it("`luahub check` accepts a valid script and exits 0", function()
    local ok, output = t.check(t.write_script(hubs.ECHO))
    assert.is_true(ok, output)
  end)

  it("`luahub check` rejects a script with a syntax error, naming the file and line", function()
    local path = t.write_script(BROKEN)
    local ok, output = t.check(path)
    assert.is_false(ok)
    assert.truthy(output:find(path .. ":3", 1, true), output)
  end)

  it("refuses to start with a broken script, logs why and exits non-zero", function()
    local path = t.write_script(BROKEN)
    local srv = t.start(path, nil, { expect_fail = true })
    assert.is_false(srv:is_running())
    assert.are_not.equal(0, srv.exit_status)
    assert.truthy(srv:log():find(path .. ":3", 1, true), srv:log())
  end)

  it("stops on SIGTERM with exit status 0", function()
    local srv = hubs.start_echo()
    assert.equal(0, srv:stop())
    assert.is_false(srv:is_running())
  end)
end)
