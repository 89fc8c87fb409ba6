-- Room history (hub.publish, hub.history; docs/lua-api.md, "History") on a single node:
-- real clients publish and recover through the script; restarts and reloads happen
-- under them. Ages are waited for with deadlines, never fixed sleeps.
local t = require "luahub.testing"
local history_hub = require "support.history_hub"

local CONFIG = [[{ history = { size = 3, ttl = 0, rooms = {
  ["big"] = { size = 100 }, ["none:*"] = { size = 0 }, ["short:*"] = { size = 10, ttl = 0.3 },
  ["short:long"] = { ttl = 60 } } } }]]

local function call(c, req)
  assert(c:send_json(req))
  return assert(c:receive_json()).r
end

local function publish(c, room, data, extra)
  local req = { op = "publish", room = room, data = data }
  for k, v in pairs(extra or {}) do req[k] = v end
  return call(c, req)
end

local function history(c, room, since, limit)
  return call(c, { op = "history", room = room, since = since, limit = limit })
end

local function datas(pubs)
  local list = {}
  for i, p in ipairs(pubs) do list[i] = p.data end
  return table.concat(list, ",")
end

describe("room history on a single node", function()
  local script, srv, c
  lazy_setup(function()
    script = t.write_script(history_hub(CONFIG))
    srv = t.start(script)
    c = assert(srv:connect())
  end)
  lazy_teardown(t.cleanup)

  it("gives each publication the next offset in the room's epoch, and fans it out", function()
    local listener = assert(srv:connect())
    assert.same({ true }, call(listener, { op = "join", room = "lobby" }))
    local r1 = publish(c, "lobby", "one")
    local r2 = publish(c, "lobby", "two")
    assert.equal(1, r1[1])
    assert.equal("one", listener:receive())
    assert.equal("two", listener:receive())
    assert.equal(1, r1[2].offset)
    assert.equal(2, r2[2].offset)
    assert.equal(r1[2].epoch, r2[2].epoch)
    assert.truthy(r1[2].epoch:match("^%x+%.%d+$"), r1[2].epoch)
    local other = publish(c, "lobby2", "x")
    assert.equal(1, other[2].offset)
    assert.are_not.equal(r1[2].epoch, other[2].epoch)
  end)

  it("recovers with nothing missed, some missed, and the last ones without a position", function()
    local p1 = publish(c, "rec", "a")[2]
    local now = history(c, "rec", p1)
    assert.same({}, now[1])
    assert.same(p1, now[2])
    publish(c, "rec", "b")
    publish(c, "rec", "c")
    local r = history(c, "rec", p1)
    assert.equal("b,c", datas(r[1]))
    assert.same({ 2, 3 }, { r[1][1].offset, r[1][2].offset })
    assert.equal(3, r[2].offset)
    assert.equal("a,b,c", datas(history(c, "rec")[1]))
    assert.equal("b,c", datas(history(c, "rec", nil, 2)[1]))
    assert.equal("b", datas(history(c, "rec", p1, 1)[1]))
  end)

  it("is unrecoverable past size, with the position now", function()
    local p1 = publish(c, "small", "1")[2]
    for i = 2, 5 do publish(c, "small", tostring(i)) end
    local r = history(c, "small", p1)
    assert.same({ false, "unrecoverable", { epoch = p1.epoch, offset = 5 } }, r)
    assert.equal("3,4,5", datas(history(c, "small")[1]))
    assert.equal("4,5", datas(history(c, "small", { epoch = p1.epoch, offset = 3 })[1]))
  end)

  it("is unrecoverable past ttl", function()
    local p1 = publish(c, "short:a", "old")[2]
    publish(c, "short:a", "older")
    assert.equal("older", datas(history(c, "short:a", p1)[1]))
    local r = t.eventually(function()
      local h = history(c, "short:a", p1)
      return h[2] == "unrecoverable" and h
    end, { timeout = 5, message = "the publications never aged out" })
    assert.equal(2, r[3].offset)
    assert.same({}, history(c, "short:a")[1])
  end)

  it("takes the most specific rule: an exact name, then the longest pattern", function()
    local long = publish(c, "short:long", "kept")[2]
    t.eventually(function() return history(c, "short:a")[2] end)   -- some time passes
    assert.equal("kept", datas(history(c, "short:long", { epoch = long.epoch, offset = 0 })[1]))
    for i = 1, 20 do publish(c, "big", tostring(i)) end
    assert.equal(20, #history(c, "big")[1])
    assert.equal(3, #history(c, "other")[1] + 3)   -- empty, but the default size applies
  end)

  it("keeps no history for a room the rules turn off: its position is (process epoch, 0)", function()
    local r = publish(c, "none:x", "gone")
    assert.equal(0, r[1])
    assert.equal(0, r[2].offset)
    assert.truthy(r[2].epoch:match("^%x+$"), r[2].epoch)
    assert.same({ {}, r[2] }, history(c, "none:x", r[2]))
    assert.same({ false, "unrecoverable", r[2] }, history(c, "none:x", { epoch = r[2].epoch, offset = 1 }))
  end)

  it("keeps binary publications binary", function()
    local r = publish(c, "bin", "00ff10", { binary = true })
    local h = history(c, "bin", { epoch = r[2].epoch, offset = 0 })
    assert.same({ { offset = 1, data = "00ff10", binary = true } }, h[1])
  end)

  it("appends without a fan-out when asked (fan_out = false)", function()
    local listener = assert(srv:connect())
    call(listener, { op = "join", room = "quiet" })
    local r = publish(c, "quiet", "stored", { fan_out = false })
    assert.equal(0, r[1])
    assert.equal(1, r[2].offset)
    assert.same({ nil, "timeout" }, { listener:receive(0.2) })
  end)

  it("refuses text that is not UTF-8, storing nothing", function()
    assert.same({ false, "bad_argument" }, { unpack(publish(c, "utf", "ff", { hex = true }), 1, 2) })
    assert.same({ {}, { epoch = history(c, "utf")[2].epoch, offset = 0 } }, history(c, "utf"))
  end)

  it("counts appends and recoveries on /metrics", function()
    local _, _, body = srv:http("GET", "/metrics")
    assert.truthy(body:match("luahub_history_appends_total %d+"), body)
    assert.truthy(tonumber(body:match("luahub_history_entries (%d+)")) > 0)
    assert.truthy(tonumber(body:match("luahub_history_bytes (%d+)")) > 0)
    assert.truthy(tonumber(body:match("luahub_history_recoveries_total (%d+)")) > 0)
    assert.truthy(tonumber(body:match("luahub_history_unrecoverable_total (%d+)")) > 0)
  end)

  it("outlives the room's members", function()
    local member = assert(srv:connect())
    call(member, { op = "join", room = "empty" })
    local p = publish(c, "empty", "while you were away")[2]
    member:close()
    t.eventually(function() return call(c, { op = "history", room = "empty" })[1][1] ~= nil end)
    assert.equal("while you were away", datas(history(c, "empty", { epoch = p.epoch, offset = 0 })[1]))
  end)

  it("survives a hot reload", function()
    local p = publish(c, "reload", "before")[2]
    assert.is_true(srv:reload(t.write_script(history_hub(CONFIG, "2"))))
    assert(srv:wait_log("reloaded"))
    t.eventually(function()
      assert(c:send_json { op = "history", room = "reload" })
      return c:receive_json().version == "2"
    end)
    publish(c, "reload", "after")
    assert.equal("before,after", datas(history(c, "reload", { epoch = p.epoch, offset = 0 })[1]))
  end)

  it("changes epoch on a restart: a position from before is unrecoverable", function()
    local p = publish(c, "restart", "x")[2]
    local other = t.start(script)
    local c2 = assert(other:connect())
    local r = history(c2, "restart", p)
    assert.equal("unrecoverable", r[2])
    assert.are_not.equal(p.epoch, r[3].epoch)
    assert.are_not.equal(p.epoch:match("^%x+"), r[3].epoch:match("^%x+"))
  end)
end)

describe("room history bounds", function()
  lazy_teardown(t.cleanup)

  it("hold max_bytes over all rooms, oldest room first", function()
    local srv = t.start(t.write_script(history_hub("{ history = { size = 1000, max_bytes = 20000 } }")))
    local c = assert(srv:connect())
    local chunk = string.rep("x", 952)   -- 1000 bytes a publication with its 48
    for i = 1, 10 do publish(c, "first", chunk) end
    for i = 1, 10 do publish(c, "second", chunk) end
    assert.equal(10, #history(c, "first")[1])
    publish(c, "second", chunk)
    local first = history(c, "first")
    assert.equal(9, #first[1])
    assert.equal(2, first[1][1].offset)
    local _, _, body = srv:http("GET", "/metrics")
    assert.equal(20000, tonumber(body:match("luahub_history_bytes (%d+)")))
  end)

  it("are checked: a `*` only at the end, sizes and ttls of their types", function()
    local ok, out = t.check(t.write_script([[
      local hub = require "luahub"
      hub.config { history = { size = -1, rooms = { ["a*b"] = { size = 1 } } } }
      hub.handle(function() end)
    ]]))
    assert.is_false(ok)
    assert.truthy(out:find("config.history.size", 1, true), out)
    assert.truthy(out:find('"a*b" is no room name or pattern', 1, true), out)
    ok, out = t.check(t.write_script([[
      local hub = require "luahub"
      hub.config { history = { rooms = { ["chat:*"] = { size = 1, tll = 3 } } } }
      hub.handle(function() end)
    ]]))
    assert.is_false(ok)
    assert.truthy(out:find("chat:*.tll", 1, true), out)
  end)
end)
