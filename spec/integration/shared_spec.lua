-- Shared dictionaries (hub.shared): state in C that every reload keeps. Real clients
-- drive each operation through the script; reloads swap the script under them.
local t = require "luahub.testing"

-- A hub at a version with the given `shared` declarations (Lua source of a table). A
-- client sends { dict, op, args } and gets { version, r = results } (nil as "<nil>",
-- an error as { "error", message }), or { version, missing = true } for a dictionary
-- the script cannot see.
local function hub_source(version, shared)
  return ([[
local hub = require "luahub"
local VERSION = %q
hub.config { shared = %s }

local function pack(...)
  local r = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    r[i] = v == nil and "<nil>" or v
  end
  return r
end

hub.handle(function(client, msg)
  local req = msg:json()
  local d = hub.shared[req.dict]
  if not d then return client:send_json { version = VERSION, missing = true } end
  local ok, r = pcall(function() return pack(d[req.op](d, unpack(req.args or {}))) end)
  client:send_json { version = VERSION, r = ok and r or { "error", tostring(r) } }
end)
]]):format(version, shared)
end

local function call(c, dict, op, ...)
  assert(c:send_json { dict = dict, op = op, args = { ... } })
  return assert(c:receive_json())
end

-- The results of one operation, checking the version that answered.
local function op(c, version, dict, name, ...)
  local reply = call(c, dict, name, ...)
  assert.equal(version, reply.version)
  assert.is_nil(reply.missing, dict .. " is hidden")
  return unpack(reply.r)
end

local function metric(srv, name, dict)
  local status, _, body = srv:http("GET", "/metrics")
  assert.equal(200, status)
  return tonumber(body:match(name .. '{dict="' .. dict .. '"} (%d+)'))
end

describe("shared dictionaries", function()
  local srv
  after_each(function() if srv then srv:stop() end end)
  lazy_teardown(t.cleanup)

  -- Reloads with source (srv:reload returns once the server has taken or refused it) and
  -- checks the log says the outcome once more.
  local function reload(source, outcome)
    outcome = outcome or "reloaded "
    local before = select(2, srv:log():gsub(outcome, ""))
    srv:reload(t.write_script(source))
    t.eventually(function()
      return select(2, srv:log():gsub(outcome, "")) > before, srv:log():sub(-1000)
    end, { message = "no new '" .. outcome .. "' in the log" })
  end

  local DECL = '{ counters = "64k", auctions = "1m" }'

  it("keeps values, types, flags, TTLs and counters across several reloads while clients stay connected", function()
    srv = t.start(t.write_script(hub_source("v1", DECL)))
    local c = assert(srv:connect())
    assert.same({ true, "<nil>", false }, { op(c, "v1", "auctions", "set", "lot:1", "painting", 0, 7) })
    op(c, "v1", "auctions", "set", "price:1", 12.5)
    op(c, "v1", "auctions", "set", "open:1", true)
    op(c, "v1", "auctions", "set", "bid:1", "alice", 60)
    for _ = 1, 3 do op(c, "v1", "counters", "incr", "bids", 1, 0) end
    for i = 2, 4 do
      reload(hub_source("v" .. i, DECL))
      assert.same({ "painting", 7 }, { op(c, "v" .. i, "auctions", "get", "lot:1") })
      assert.equal(12.5, op(c, "v" .. i, "auctions", "get", "price:1"))
      assert.equal(true, op(c, "v" .. i, "auctions", "get", "open:1"))
      assert.equal("alice", op(c, "v" .. i, "auctions", "get", "bid:1"))
      local left = op(c, "v" .. i, "auctions", "ttl", "bid:1")
      assert.is_true(left > 0 and left <= 60, "ttl left: " .. tostring(left))
      assert.equal(i + 2, op(c, "v" .. i, "counters", "incr", "bids", 1))
    end
    assert.equal(3, select(2, srv:log():gsub("reloaded ", "")))
    assert.equal(1, select(2, srv:log():gsub("shared dictionary auctions: 1048576 bytes", "")),
                 "the dictionary was made once")
  end)

  it("never returns an expired key and counts incr from init after it", function()
    srv = t.start(t.write_script(hub_source("v1", '{ d = "64k" }')))
    local c = assert(srv:connect())
    op(c, "v1", "d", "set", "short", "soon gone", 0.2)
    op(c, "v1", "d", "set", "long", "stays", 30)
    assert.equal(5, op(c, "v1", "d", "incr", "n", 1, 4, 0.2))
    assert.equal("soon gone", op(c, "v1", "d", "get", "short"))
    t.eventually(function() return op(c, "v1", "d", "get", "short") == "<nil>" end,
                 { message = "the key did not expire" })
    assert.same({ "<nil>", "not_found", "no such key" }, { op(c, "v1", "d", "ttl", "short") })
    assert.equal("stays", op(c, "v1", "d", "get", "long"))
    t.eventually(function() return op(c, "v1", "d", "incr", "n", 1, 10) == 11 end,
                 { message = "the counter did not restart from init" })
    assert.same({ "long", "n" }, (function()
      local keys = op(c, "v1", "d", "keys")
      table.sort(keys)
      return keys
    end)())
  end)

  it("evicts the least recently used keys at its bound and says so; add and safe_set do not", function()
    srv = t.start(t.write_script(hub_source("v1", '{ small = "8k" }')))
    local c = assert(srv:connect())
    local value = string.rep("x", 500)
    local forcible, n = false, 0
    while not forcible do
      n = n + 1
      assert.is_true(n < 100, "no eviction reported")
      if n == 3 then op(c, "v1", "small", "get", "k1") end     -- k1 used again: k2 is the oldest
      local ok, err
      ok, err, forcible = op(c, "v1", "small", "set", "k" .. n, value)
      assert.same({ true, "<nil>" }, { ok, err })
    end
    assert.equal(value, op(c, "v1", "small", "get", "k1"))
    assert.equal("<nil>", op(c, "v1", "small", "get", "k2"))
    local free = op(c, "v1", "small", "free_space")
    assert.is_true(free < 8192 and free >= 0)
    assert.equal(8192, op(c, "v1", "small", "capacity"))
    local bigger = string.rep("y", free + 1)
    assert.same({ "<nil>", "no_memory", "no room for the value" }, { op(c, "v1", "small", "add", "new", bigger) })
    assert.same({ "<nil>", "no_memory", "no room for the value" }, { op(c, "v1", "small", "safe_set", "k1", bigger) })
    assert.equal(value, op(c, "v1", "small", "get", "k1"), "a failed safe_set changed the value")
    assert.same({ "<nil>", "exists", "the key exists already" }, { op(c, "v1", "small", "add", "k1", "z") })
    assert.same({ "<nil>", "not_found", "no such key" }, { op(c, "v1", "small", "replace", "absent", "z") })
    assert.is_true(metric(srv, "luahub_shared_evictions_total", "small") >= 1)
    assert.equal(8192, metric(srv, "luahub_shared_capacity_bytes", "small"))
    local used = metric(srv, "luahub_shared_used_bytes", "small")
    assert.is_true(used > 8192 - 1000 and used <= 8192, "used: " .. tostring(used))
  end)

  it("resizes a dictionary a reload declares with another size, keeping the most recent keys", function()
    srv = t.start(t.write_script(hub_source("v1", '{ d = "64k" }')))
    local c = assert(srv:connect())
    local value = string.rep("v", 400)
    for i = 1, 100 do op(c, "v1", "d", "set", "k" .. i, value) end
    reload(hub_source("v2", '{ d = "16k" }'), "resized from 65536 to 16384 bytes")
    t.eventually(function() return call(c, "d", "capacity").version == "v2" end)
    assert.equal(16384, op(c, "v2", "d", "capacity"))
    assert.equal(value, op(c, "v2", "d", "get", "k100"))
    assert.equal("<nil>", op(c, "v2", "d", "get", "k1"))
    local kept = #op(c, "v2", "d", "keys", 0)
    assert.is_true(kept > 10 and kept < 100, "keys kept: " .. kept)
    assert.truthy(srv:log():find(("%d keys did not fit"):format(100 - kept), 1, true), srv:log())
    assert.equal(16384, metric(srv, "luahub_shared_capacity_bytes", "d"))
    reload(hub_source("v3", '{ d = "64k" }'), "resized from 16384 to 65536 bytes")
    t.eventually(function() return call(c, "d", "capacity").version == "v3" end)
    assert.equal(kept, #op(c, "v3", "d", "keys", 0), "growing dropped keys")
  end)

  it("hides a dictionary a reload no longer declares, keeps it, and shows it again when declared", function()
    srv = t.start(t.write_script(hub_source("v1", '{ a = "16k", b = "16k" }')))
    local c = assert(srv:connect())
    op(c, "v1", "b", "set", "x", "kept")
    reload(hub_source("v2", '{ a = "16k" }'), "shared dictionary b is no longer declared")
    t.eventually(function() return call(c, "a", "capacity").version == "v2" end)
    assert.same({ version = "v2", missing = true }, call(c, "b", "get", "x"))
    assert.equal(16384, metric(srv, "luahub_shared_capacity_bytes", "b"), "b went from /metrics")
    reload(hub_source("v3", "{}"), "reloaded ")
    reload(hub_source("v4", '{ a = "16k", b = "16k" }'), "shared dictionary b is declared again")
    t.eventually(function() return call(c, "a", "capacity").version == "v4" end)
    assert.equal("kept", op(c, "v4", "b", "get", "x"))
  end)

  it("raises on argument mistakes with the function's name", function()
    srv = t.start(t.write_script(hub_source("v1", '{ d = "16k" }')))
    local c = assert(srv:connect())
    local r = { op(c, "v1", "d", "incr", "n", "one") }
    assert.equal("error", r[1])
    assert.truthy(r[2]:find("hub.shared.d:incr: by must be a number", 1, true), r[2])
    r = { op(c, "v1", "d", "set", "", 1) }
    assert.truthy(r[2]:find("hub.shared.d:set: key must be", 1, true), r[2])
    r = { op(c, "v1", "d", "set", "k", 1, -1) }
    assert.truthy(r[2]:find("hub.shared.d:set: ttl must be seconds >= 0", 1, true), r[2])
    r = { op(c, "v1", "d", "set", "k", { 1 }) }
    assert.truthy(r[2]:find("hub.shared.d:set: value must be a string, number, boolean or nil", 1, true), r[2])
    op(c, "v1", "d", "set", "s", "text")
    assert.same({ "<nil>", "not_a_number", "the value is not a number" }, { op(c, "v1", "d", "incr", "s", 1) })
  end)

  it("refuses bad declarations with their key path, at check and on reload", function()
    local ok, out = t.check(t.write_script(hub_source("v1", '{ ["bad name"] = "16k" }')))
    assert.is_false(ok)
    assert.truthy(out:find('config.shared: expected a table of dictionary names', 1, true), out)
    ok, out = t.check(t.write_script(hub_source("v1", '{ d = "10x" }')))
    assert.is_false(ok)
    assert.truthy(out:find('d is "10x"', 1, true), out)
    ok, out = t.check(t.write_script(hub_source("v1", '{ d = 100 }')))
    assert.is_false(ok)
    srv = t.start(t.write_script(hub_source("v1", '{ d = "16k" }')))
    local c = assert(srv:connect())
    op(c, "v1", "d", "set", "k", 1)
    reload(hub_source("v2", '{ d = "32g" }'), "reload of [^\n]* failed")
    assert.equal(1, op(c, "v1", "d", "get", "k"))
    assert.equal(16384, op(c, "v1", "d", "capacity"))
  end)
end)
