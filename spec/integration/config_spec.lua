-- hub.config validation: `luahub check` and startup report every problem at once, each
-- with its key path, and refuse to run.
local t = require "luahub.testing"

local BAD = [[
local hub = require "luahub"
hub.config {
  listen = 8080,
  bogus = true,
  ws_path = "ws",
  compression = "yes",
  origins = 5,
  subprotocols = { "chat.v1", 7 },
  limits = { per_usr = 1, connections = -1, message_rate = "fast", per_user = 2^32 },
  send_queue = { policy = "drop_all", messages = 1.5 },
  log = { level = "loud" },
  cluster = 5,
}
hub.handle(function() end)
]]

local EXPECTED = {
  'config.listen: expected a string, got 8080 (number)',
  'config.bogus: unknown key',
  'config.ws_path: expected a path starting with /, got "ws"',
  'config.compression: expected a boolean, got "yes"',
  'config.origins: expected "same", "*" or a list of origins, got 5 (number)',
  'config.subprotocols: expected a list of non-empty strings (entry 2 is 7 (number)), got a table',
  'config.limits.per_usr: unknown key',
  'config.limits.connections: expected a whole number from 0 to 4294967295, got -1 (number)',
  'config.limits.per_user: expected a whole number from 0 to 4294967295, got 4294967296 (number)',
  'config.limits.message_rate: expected a number of messages per second >= 0, got "fast"',
  'config.send_queue.policy: expected one of drop_newest, drop_oldest, close, got "drop_all"',
  'config.send_queue.messages: expected a whole number from 0 to 4294967295, got 1.5 (number)',
  'config.log.level: expected one of debug, info, warn, error, got "loud"',
  'config.cluster: expected a table, got 5 (number)',
}

local GOOD = [[
local hub = require "luahub"
hub.config {
  ws_path = "/socket", origins = { "https://example.com" }, subprotocols = { "chat.v1" },
  max_message_size = 65536, ping_interval = 20, pong_timeout = 30, compression = false,
  send_queue = { messages = 64, bytes = 1048576, policy = "drop_oldest" },
  limits = { connections = 100, per_user = 2, rooms_per_client = 10, clients_per_room = 50,
             message_rate = 5.5 },
  log = { level = "warn", format = "json" },
}
hub.handle(function() end)
]]

describe("configuration checks", function()
  lazy_teardown(t.cleanup)

  it("`luahub check` prints every problem with its key path and exits non-zero", function()
    local ok, output = t.check(t.write_script(BAD))
    assert.is_false(ok, output)
    for _, line in ipairs(EXPECTED) do
      assert.truthy(output:find(line, 1, true), "missing: " .. line .. "\nin:\n" .. output)
    end
  end)

  it("`luahub check` accepts a script using every kind of setting", function()
    local path = t.write_script(GOOD)
    local ok, output = t.check(path)
    assert.is_true(ok, output)
    assert.truthy(output:find(path .. ": ok", 1, true), output)
  end)

  it("refuses to start with an invalid config, naming the problems", function()
    local srv = t.start(t.write_script(BAD), nil, { expect_fail = true })
    assert.are_not.equal(0, srv.exit_status)
    assert.truthy(srv:log():find(EXPECTED[2], 1, true), srv:log())
  end)

  it("checks the --config overrides like the script's own settings", function()
    local srv = t.start(t.write_script(GOOD), { limits = { per_user = "two" }, colour = "red" },
                        { expect_fail = true })
    assert.are_not.equal(0, srv.exit_status)
    assert.truthy(srv:log():find('config.limits.per_user: expected a whole number from 0 to 4294967295, got "two"', 1, true), srv:log())
    assert.truthy(srv:log():find("config.colour: unknown key", 1, true), srv:log())
  end)

  it("raises, naming the script's line, when hub.config is given something else than a table", function()
    local path = t.write_script('local hub = require "luahub"\nhub.config("listen=1")\n')
    local ok, output = t.check(path)
    assert.is_false(ok)
    assert.truthy(output:find(path .. ':2: hub.config: expected a table, got "listen=1"', 1, true), output)
  end)
end)
