-- Mistakes a new user makes, each reported with what is wrong, where (the script's own
-- file:line, also for a call made as a tail call) and how to fix it.
local cjson = require "cjson"
local t = require "luahub.testing"
local observe = require "support.observe"

-- The line of source tagged "-- @tag".
local function line_of(source, tag)
  local n = 0
  for line in (source .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if line:find("-- @" .. tag, 1, true) then return n end
  end
  error("no line tagged @" .. tag)
end

-- Raises unless text holds every one of the plain strings wanted.
local function assert_names(text, wanted)
  for _, w in ipairs(wanted) do
    assert(text:find(w, 1, true), ("expected %q in:\n%s"):format(w, text))
  end
end

local RUNTIME = [[
local hub = require "luahub"
local errors = {}
hub.on("on_error", function(client, err) errors[#errors + 1] = tostring(err) end)
hub.route("GET", "/errors", function() return 200, hub.json.array(errors) end)
local router = hub.router("type")
router:on("table", function(c) c:send { hello = true } end)                -- @table
router:on("tail", function(c)
  local n = 1
  return c:send { n = n }                                                  -- @tail
end)
router:on("room", function(c) hub.to_room(42, "hi") end)                   -- @room
router:on("close", function(c) c:close(999) end)                           -- @close
router:on("every", function() hub.every(0, function() end) end)            -- @every
router:on("raw", function(c) return c:send_raw_json { a = 1 } end)         -- @raw
hub.handle(router)
]]

describe("a mistake at run time", function()
  local srv, c

  lazy_setup(function()
    srv = t.start(t.write_script(RUNTIME))
    c = assert(srv:connect())
  end)
  lazy_teardown(t.cleanup)

  -- Sends {"type": event} and returns the first line of the error it caused.
  local function error_of(event)
    local before = #observe.get_json(srv, "/errors")
    c:send_json { type = event }
    local errors = observe.wait_json(srv, "/errors", function(list) return #list > before end)
    return errors[before + 1]:match("^[^\n]*"), errors[before + 1]
  end

  local cases = {
    { "table", "client:send", "expected a string or a message, got a table", "use client:send_json" },
    { "tail", "client:send", "got a table", "use client:send_json" },
    { "room", "hub.to_room", "room must be a string, got a number (42)", "hub.to_room(room, data, opts)" },
    { "close", "client:close", "invalid close code a number (999)", "use 1000 (normal), 1001 to 1003" },
    { "every", "hub.every", "seconds must be > 0", "for a call on the next loop pass use hub.after(0, fn)" },
    { "raw", "client:send_raw_json", "expected a string of JSON, got a table", "use client:send_json" },
  }
  for _, case in ipairs(cases) do
    local event, fn, mistake, fix = case[1], case[2], case[3], case[4]
    it(("names %s, the line and the fix (%s)"):format(fn, event), function()
      local first = error_of(event)
      assert.equal(1, select(2, first:gsub("hub%.lua:%d+", "")), first)   -- one location, first
      assert_names(first, { "hub.lua:" .. line_of(RUNTIME, event) .. ": " .. fn .. ": ", mistake, "; " .. fix })
    end)
  end

  it("prints the traceback over several lines in a text log", function()
    error_of("tail")
    local log, found = srv:log(), nil
    for record in log:gmatch("[^\n]*handler error: [^\n]*\n    stack traceback:\n    \t[^\n]+") do
      found = found or (record:find("hub.lua:" .. line_of(RUNTIME, "tail"), 1, true) and record)
    end
    assert(found, log)
  end)
end)

describe("a JSON log", function()
  lazy_teardown(t.cleanup)

  it("keeps a traceback inside its one-line record", function()
    local srv = t.start(t.write_script(RUNTIME), { log = { format = "json" } })
    local c = assert(srv:connect())
    c:send_json { type = "table" }
    assert.truthy(srv:wait_log("handler error"))
    local found
    for line in srv:log():gmatch("[^\n]+") do
      local record = assert(cjson.decode(line), line)
      if record.msg:find("handler error", 1, true) then found = record.msg end
    end
    assert_names(found, { "client:send", "\nstack traceback:\n\t" })
  end)
end)

describe("a mistake when the script loads", function()
  lazy_teardown(t.cleanup)

  -- The output of `luahub check` for source, which must fail.
  local function check_fails(source)
    local ok, out = t.check(t.write_script(source))
    assert.is_false(ok, out)
    return out
  end

  it("names a misspelled hook and the closest one", function()
    local source = 'local hub = require "luahub"\nhub.on("after_connnect", function() end) -- @hook\n'
    assert_names(check_fails(source), { "hub.lua:" .. line_of(source, "hook") .. ": hub.on: unknown hook",
      '"after_connnect"', "did you mean after_connect?" })
  end)

  it("names a misspelled config key, where it was set and the closest key", function()
    local source = [[
local hub = require "luahub"
hub.config { limits = { per_usr = 2 } }  -- @config
hub.on("after_connect", function() end)
]]
    assert_names(check_fails(source), { "config.limits.per_usr: unknown key; did you mean per_user? (set at ",
      "hub.lua:" .. line_of(source, "config") .. ")" })
  end)

  it("names a key put in the wrong section and where it belongs", function()
    local source = 'local hub = require "luahub"\nhub.config { per_user = 2 }\nhub.on("after_connect", function() end)\n'
    assert_names(check_fails(source), { "config.per_user", "unknown key; did you mean limits.per_user?" })
  end)

  it("names a route that an earlier one makes unreachable, with both lines", function()
    local source = [[
local hub = require "luahub"
hub.route("GET", "/static/*", function(req) return 200, req.splat end)      -- @wide
hub.route("GET", "/static/:file", function(req) return 200, "never" end)    -- @narrow
]]
    assert_names(check_fails(source), { "hub.route GET /static/:file (", "hub.lua:" .. line_of(source, "narrow"),
      "can never match: GET /static/* (", "hub.lua:" .. line_of(source, "wide"), "register the narrower route first" })
  end)

  it("names a route on a path the server answers itself", function()
    local source = 'local hub = require "luahub"\nhub.route("GET", "/ws", function() return 200 end)\n'
    assert_names(check_fails(source), { "hub.route GET /ws", "can never match: it is ws_path", "use another path" })
  end)

  it("raises for a route path no request can hold", function()
    local source = 'local hub = require "luahub"\nhub.route("GET", "/search?q", function() end) -- @query\n'
    assert_names(check_fails(source), { "hub.lua:" .. line_of(source, "query") .. ": hub.route: ",
      '"/search?q" holds "?"', "read the query from req.params" })
  end)

  it("raises for a parameter named twice", function()
    local source = 'local hub = require "luahub"\nhub.route("GET", "/a/:id/b/:id", function() end) -- @dup\n'
    assert_names(check_fails(source), { "hub.lua:" .. line_of(source, "dup") .. ": hub.route: ",
      "has the parameter :id twice", "give each parameter its own name" })
  end)

  it("tells a router passed to hub.use where it goes", function()
    local source = 'local hub = require "luahub"\nhub.use(hub.router("type")) -- @use\n'
    assert_names(check_fails(source), { "hub.lua:" .. line_of(source, "use") .. ": hub.use: expected a middleware, got a table",
      "use hub.handle(router)" })
  end)
end)

describe("a refused origin", function()
  lazy_teardown(t.cleanup)

  it("logs the Origin and Host it saw and how to allow it", function()
    local srv = t.start(t.write_script('require("luahub").on("after_connect", function() end)'))
    local c, err, status = srv:connect { origin = "http://evil.example" }
    assert.is_nil(c)
    assert.equal("http", err)
    assert.equal(403, status)
    local line = assert(srv:wait_log("[^\n]*origin not allowed[^\n]*"), srv:log())
    assert_names(line, { 'Origin \\"http://evil.example\\"', 'Host \\"127.0.0.1:', 'origins = \\"same\\"',
      'hub.config { origins = { \\"http://evil.example\\" } }', 'or origins = \\"*\\" for any' })
  end)
end)
