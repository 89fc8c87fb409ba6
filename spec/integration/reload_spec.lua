-- Hot reload (SIGHUP): a new script takes over handlers, timers and routes while live
-- clients keep their connection, rooms, user id and metadata; a script that fails to
-- load is refused and the old one keeps serving.
local t = require "luahub.testing"

-- The same hub at any version: every reply, tick and route names the version serving it.
local function version(v)
  return ([[
local hub = require "luahub"
local VERSION = "%s"

hub.every(0.02, function() hub.to_room("ticks", "tick " .. VERSION) end)
hub.route("GET", "/version", function() return 200, VERSION end)

hub.handle(function(client, msg)
  local cmd, arg = msg.data:match("^(%%S+) ?(.*)$")
  if cmd == "setup" then
    client:set_user(arg)
    client:join("lobby")
    client:set("color", "blue")
    client:set("profile", { level = 2, tags = { "a", "b" } })
    client:send(VERSION .. " ready")
  elseif cmd == "listen" then
    client:join("ticks")
  elseif cmd == "say" then
    hub.to_room("lobby", VERSION .. " " .. client.user_id .. ": " .. arg, { except = client })
  elseif cmd == "user" then
    hub.to_user(arg, VERSION .. " for " .. arg)
  elseif cmd == "state" then
    client:send_json { version = VERSION, user_id = client.user_id, rooms = client:rooms(),
                       color = client:get("color"), profile = client:get("profile"),
                       lobby = #hub.room_clients("lobby"), count = hub.count() }
  else
    client:send(VERSION .. ":" .. msg.data)
  end
end)
]]):format(v)
end

local SYNTAX_ERROR = [[
local hub = require "luahub"
hub.handle(function(client, msg)
  client:send(msg.data
end)
]]

local FAILS_WHILE_LOADING = [[
local hub = require "luahub"
hub.every(0.005, function() hub.to_room("ticks", "tick from a refused script") end)
hub.route("GET", "/version", function() return 200, "refused" end)
hub.handle(function(client) client:send("refused") end)
error("this script fails while loading")
]]

local BAD_CONFIG = version("v3") .. [[
hub.config { limits = { per_usr = 1 } }
]]

-- Valid for Lua's number checks, but per_user is a 32-bit count in the core.
local OUT_OF_RANGE_CONFIG = version("v3") .. [[
hub.config { limits = { connections = 1, per_user = 2^32 } }
]]

describe("hot reload", function()
  local srv

  before_each(function() srv = t.start(t.write_script(version("v1"))) end)
  after_each(function() srv:stop() end)
  lazy_teardown(t.cleanup)

  -- srv:reload returns once the server has answered for the new script: true when it
  -- serves it, or false and the logged refusal.
  local function reload(source)
    assert.is_true(srv:reload(t.write_script(source)))
  end

  -- Returns the refused script's path and the refusal.
  local function refuse(source)
    local path = t.write_script(source)
    local ok, refusal = srv:reload(path)
    assert.is_false(ok)
    assert.matches("reload of [^\n]* failed, keeping the running script", refusal)
    return path, refusal
  end

  local function setup(c, user)
    c:send("setup " .. user)
    assert.equal("v1 ready", c:receive())
  end

  local function http_version() return select(3, srv:http("GET", "/version")) end

  -- Ticks a listener gets: after the first from `v`, the next n are all from `v` too.
  local function assert_ticks_settle_on(listener, v, n)
    local tick
    repeat
      tick = listener:receive()
      assert.truthy(tick, "the ticks stopped")
    until tick == "tick " .. v
    for _ = 1, n do assert.equal("tick " .. v, listener:receive()) end
  end

  it("swaps the handler while clients stay connected, with their rooms, user id and metadata", function()
    local c = assert(srv:connect())
    setup(c, "alice")
    c:send("hello")
    assert.equal("v1:hello", c:receive())
    reload(version("v2"))
    c:send("hello")
    assert.equal("v2:hello", c:receive())
    c:send("state")
    assert.same({ version = "v2", user_id = "alice", rooms = { "lobby" }, color = "blue",
                  profile = { level = 2, tags = { "a", "b" } }, lobby = 1, count = 1 }, c:receive_json())
    c:send("user alice")
    assert.equal("v2 for alice", c:receive(), "the user index did not survive the reload")
  end)

  it("keeps two clients talking in their room across the reload", function()
    local a, b = assert(srv:connect()), assert(srv:connect())
    setup(a, "ann")
    setup(b, "bob")
    a:send("say before")
    assert.equal("v1 ann: before", b:receive())
    reload(version("v2"))
    a:send("say after")
    assert.equal("v2 ann: after", b:receive())
    b:send("say back")
    assert.equal("v2 bob: back", a:receive())
  end)

  it("replaces the old script's timers and routes with the new script's", function()
    local listener = assert(srv:connect())
    listener:send("listen")
    assert.equal("tick v1", listener:receive())
    assert.equal("v1", http_version())
    reload(version("v2"))
    assert_ticks_settle_on(listener, "v2", 10)
    assert.equal("v2", http_version())
  end)

  it("refuses a script with a syntax error, logs it with file:line, and keeps the old one serving", function()
    local c, listener = assert(srv:connect()), assert(srv:connect())
    setup(c, "carol")
    listener:send("listen")
    local path, refusal = refuse(SYNTAX_ERROR)
    assert.truthy(refusal:find(path .. ":4:", 1, true), "the error does not name file:line: " .. refusal)
    c:send("still there?")
    assert.equal("v1:still there?", c:receive())
    assert_ticks_settle_on(listener, "v1", 5)
    assert.equal("v1", http_version())
    reload(version("v2"))
    c:send("state")
    assert.equal("carol", c:receive_json().user_id, "a later good reload lost the client's state")
  end)

  it("refuses a script that throws while loading, and none of its timers or routes run", function()
    local listener = assert(srv:connect())
    listener:send("listen")
    assert.equal("tick v1", listener:receive())
    refuse(FAILS_WHILE_LOADING)
    assert.truthy(srv:log():find("this script fails while loading", 1, true), srv:log())
    assert_ticks_settle_on(listener, "v1", 10)
    assert.equal("v1", http_version())
  end)

  it("refuses a script whose config is invalid, naming the key", function()
    local c = assert(srv:connect())
    refuse(BAD_CONFIG)
    assert.truthy(srv:log():find("config.limits.per_usr: unknown key", 1, true), srv:log())
    c:send("hello")
    assert.equal("v1:hello", c:receive())
  end)

  it("leaves the running config untouched when it refuses a script whose config the core rejects", function()
    local a = assert(srv:connect())
    refuse(OUT_OF_RANGE_CONFIG)
    assert.truthy(srv:log():find("config.limits.per_user", 1, true), srv:log())
    a:send("hello")
    assert.equal("v1:hello", a:receive())
    assert.truthy(srv:connect(), "limits.connections = 1 from the refused script is in force")
  end)
end)
