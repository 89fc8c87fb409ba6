-- hub.every and hub.after on the server's event loop: repeating, one-shot, cancelled,
-- failing. A fast reference timer is the clock: "later" means it has fired many more
-- times, never a fixed sleep in the spec.
local socket = require "socket"
local t = require "luahub.testing"
local observe = require "support.observe"

local SCRIPT = [[
local hub = require "luahub"

local state = { ticks = 0, once = 0, reference = 0, self_cancelled = 0, errors = {} }
hub.route("GET", "/state", function() return 200, state end)

hub.every(0.01, function() state.reference = state.reference + 1 end)
local ticker = hub.every(0.02, function() state.ticks = state.ticks + 1 end)
hub.after(0.05, function() state.once = state.once + 1 end)

local self_cancelling
self_cancelling = hub.every(0.01, function()
  state.self_cancelled = state.self_cancelled + 1
  if state.self_cancelled == 3 then self_cancelling:cancel() end
end)

local function explode() error("timer exploded") end
hub.after(0.03, explode)
hub.on("on_error", function(client, err)
  state.errors[#state.errors + 1] = (client and client.id or "-") .. " " .. tostring(err):match("[^\n]*")
end)

hub.route("POST", "/cancel", function()
  ticker:cancel()
  state.cancelled_at, state.reference_at_cancel = state.ticks, state.reference
  return 200, { again = ticker:cancel() }
end)

hub.route("POST", "/misuse", function()
  local ok, err = pcall(hub.every, 0, function() end)
  local ok2, err2 = pcall(hub.after, 1, "not a function")
  return 200, { every = ok or err, after = ok2 or err2 }
end)

hub.handle(function(client, msg)
  -- A binary message is kept without reading msg.data, so no string copy exists.
  if msg.kind == "binary" then
    local kept = msg
    hub.after(0, function()
      local ok, err = pcall(function() return kept.data end)
      client:send(ok and "still readable" or "released: " .. tostring(err))
    end)
    return
  end
  local delay, text = msg.data:match("^(%S+) (.*)$")
  hub.after(tonumber(delay), function() client:send(text) end)
end)
]]

describe("timers", function()
  local srv

  lazy_setup(function() srv = t.start(t.write_script(SCRIPT)) end)
  lazy_teardown(t.cleanup)

  local function state() return observe.get_json(srv, "/state") end

  -- Waits until the 10 ms reference timer has fired n more times than in `since`.
  local function wait_reference(since, n)
    return observe.wait_json(srv, "/state", function(s) return s.reference >= since.reference + n end)
  end

  it("fires an every timer again and again", function()
    observe.wait_json(srv, "/state", function(s) return s.ticks >= 5 end)
  end)

  it("stops an every timer on cancel(), and a second cancel() is harmless", function()
    observe.wait_json(srv, "/state", function(s) return s.ticks >= 1 end)
    local status, _, body = srv:http("POST", "/cancel", nil, "")
    assert.equal(200, status)
    assert.same({ again = true }, require("cjson").decode(body))
    local s = state()
    s.reference = s.reference_at_cancel
    local later = wait_reference(s, 20)
    assert.equal(later.cancelled_at, later.ticks, "the cancelled timer kept firing")
  end)

  it("fires an after timer exactly once", function()
    local s = observe.wait_json(srv, "/state", function(st) return st.once >= 1 end)
    assert.equal(1, wait_reference(s, 20).once)
  end)

  it("stops a timer that cancels itself in its own callback", function()
    local s = observe.wait_json(srv, "/state", function(st) return st.self_cancelled >= 3 end)
    assert.equal(3, wait_reference(s, 20).self_cancelled)
  end)

  it("reports an error in a timer to on_error and the log, and the loop goes on", function()
    local s = observe.wait_json(srv, "/state", function(st) return #st.errors >= 1 end)
    assert.truthy(s.errors[1]:match("^%- .*timer exploded$"), s.errors[1])
    assert.truthy(srv:wait_log("handler error: [^\n]*timer exploded", 3), srv:log())
    assert.truthy(srv:log():find("explode", 1, true))
    wait_reference(s, 5)
    assert.is_true(srv:is_running())
  end)

  it("lets a handler schedule a reply, delivered in the order the delays run out", function()
    local c = assert(srv:connect())
    local started = socket.gettime()
    c:send("0.25 second")
    c:send("0.05 first")
    assert.equal("first", c:receive())
    assert.equal("second", c:receive())
    assert.is_true(socket.gettime() - started >= 0.2, "the 0.25 s timer fired early")
  end)

  it("does not let a timer read an unread message after its handler returned", function()
    local c = assert(srv:connect())
    c:send_binary("keep")
    local reply = assert(c:receive())
    assert.truthy(reply:match("^released: .*only readable while the handler runs"), reply)
  end)

  it("raises for a period of 0 or a callback that is not a function", function()
    local status, _, body = srv:http("POST", "/misuse", nil, "")
    assert.equal(200, status)
    local r = require("cjson").decode(body)
    assert.truthy(tostring(r.every):find("seconds must be > 0", 1, true), r.every)
    assert.truthy(tostring(r.after):find("expected a function", 1, true), r.after)
  end)
end)
