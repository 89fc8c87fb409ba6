-- hub.http.request: outbound HTTP(S) from a script, end to end. A WebSocket client asks
-- the hub to make a call (a JSON command); the handler waits on it and sends the result
-- back. The backend is real: spec/support/http_backend.py on loopback, over TCP and TLS.
local socket = require "socket"
local cjson = require "cjson"
local t = require "luahub.testing"
local backends = require "support.http_backend"

local SCRIPT = [[
local hub = require "luahub"
local cjson = require "cjson"

local function answer(client, res, code, detail)
  client:send(cjson.encode({ res = res or false, code = code, detail = detail }))
end

hub.handle(function(client, msg)
  local cmd = cjson.decode(msg.data)
  if cmd.op == "request" then
    answer(client, hub.http.request(cmd.opts))
  elseif cmd.op == "get" then
    answer(client, hub.http.get(cmd.url, cmd.opts))
  elseif cmd.op == "post" then
    answer(client, hub.http.post(cmd.url, cmd.body, cmd.opts))
  elseif cmd.op == "raise" then
    local ok, err = pcall(hub.http.request, cmd.opts)
    client:send(cjson.encode({ raised = not ok and tostring(err) or false }))
  elseif cmd.op == "echo" then
    client:send(cjson.encode({ echo = cmd.n }))
  end
end)

-- an HTTP route is a task too: it may wait on a call
hub.route("GET", "/proxy", function(req)
  local res, code = hub.http.get(req.params.url)
  if not res then return 502, code end
  return 200, res.body
end)
]]

local function start_hub(overrides)
  return t.start(t.write_script(SCRIPT), overrides)
end

local function connect(srv) return assert(srv:connect()) end

-- Sends a command and waits for its answer.
local function ask(c, cmd, timeout)
  assert(c:send_json(cmd))
  return assert(c:receive_json(timeout or 10))
end

local function request(c, opts, timeout) return ask(c, { op = "request", opts = opts }, timeout) end

local function metric(srv, series)
  local _, _, body = srv:http("GET", "/metrics")
  return tonumber(body:match("\n" .. series:gsub("%p", "%%%0") .. " (%S+)"))
end

describe("hub.http.request", function()
  local backend, srv, c

  lazy_setup(function()
    backend = backends.start()
    srv = start_hub({ outbound = { max_response_bytes = 100000 } })
    c = connect(srv)
  end)
  lazy_teardown(function()
    if backend then backend:stop() end
    t.cleanup()
  end)

  it("makes a GET and hands the script status, headers and body", function()
    local r = request(c, { url = backend:url("/echo?x=1"), headers = { ["X-Token"] = "abc", ["X-N"] = 7 } })
    assert.is_table(r.res, r.detail)
    assert.equal(200, r.res.status)
    assert.equal("application/json", r.res.headers["content-type"])
    local seen = cjson.decode(r.res.body)
    assert.equal("GET", seen.method)
    assert.equal("/echo?x=1", seen.path)
    assert.equal("abc", seen.headers["x-token"])
    assert.equal("7", seen.headers["x-n"])
  end)

  it("sends a method and a body, with hub.http.post as a shortcut", function()
    local r = ask(c, { op = "post", url = backend:url("/echo"), body = "hello",
                       opts = { headers = { ["Content-Type"] = "text/plain" } } })
    local seen = cjson.decode(r.res.body)
    assert.equal("POST", seen.method)
    assert.equal("hello", seen.body)
    assert.equal("text/plain", seen.headers["content-type"])
    r = request(c, { method = "PATCH", url = backend:url("/echo"), body = "{}" })
    seen = cjson.decode(r.res.body)
    assert.equal("PATCH", seen.method)
    assert.equal("{}", seen.body)
    assert.is_nil(seen.headers["content-type"])
  end)

  it("returns an error status as a response, repeated headers joined", function()
    local r = ask(c, { op = "get", url = backend:url("/status?code=503") })
    assert.equal(503, r.res.status)
    assert.equal("status 503", r.res.body)
    assert.equal("a, b", r.res.headers["x-multi"])
  end)

  it("fails with timeout when the answer takes longer than the call's timeout", function()
    local started = socket.gettime()
    local r = request(c, { url = backend:url("/slow?s=2"), timeout = 0.3 })
    assert.is_false(r.res)
    assert.equal("timeout", r.code)
    assert.is_string(r.detail)
    assert.is_true(socket.gettime() - started < 1.5)
    -- logged with the script line that made the call
    assert.truthy(srv:wait_log("hub.http.request failed at [^\n]*hub%.lua:%d+: timeout"), srv:log())
  end)

  it("fails with connect when nothing listens", function()
    local r = request(c, { url = ("http://127.0.0.1:%d/"):format(t.free_port()) })
    assert.equal("connect", r.code)
    assert.truthy(r.detail:find("127.0.0.1", 1, true), r.detail)
  end)

  it("fails with too_large past outbound.max_response_bytes, by Content-Length or chunked", function()
    assert.equal(100000, #request(c, { url = backend:url("/big?n=100000") }).res.body)
    local r = request(c, { url = backend:url("/big?n=100001") })
    assert.equal("too_large", r.code)
    assert.truthy(r.detail:find("max_response_bytes", 1, true), r.detail)
    assert.equal("too_large", request(c, { url = backend:url("/big?n=300000&chunked=1") }).code)
  end)

  it("returns bad_argument for a url, method or header the request cannot carry", function()
    for _, opts in ipairs({
      { url = "ftp://127.0.0.1/" }, { url = "/echo" }, { url = "http://" },
      { url = backend:url("/echo"), method = "GE T" },
      { url = backend:url("/echo"), headers = { ["X Bad"] = "1" } },
      { url = backend:url("/echo"), headers = { ["X-Split"] = "a\r\nInjected: 1" } },
      { url = backend:url("/echo"), headers = { ["Content-Length"] = "3" } },
    }) do
      local r = request(c, opts)
      assert.equal("bad_argument", r.code, cjson.encode(opts))
      assert.truthy(r.detail:find("^hub.http.request: "), r.detail)
    end
  end)

  it("raises, naming itself, on arguments of the wrong type", function()
    for _, case in ipairs({
      { opts = "http://x", says = "expected a table of options" },
      { opts = { url = 5 }, says = "url must be a string" },
      { opts = { url = "http://x", timeout = -1 }, says = "timeout must be a number of seconds > 0" },
      { opts = { url = "http://x", body = {} }, says = "body must be a string" },
    }) do
      local r = ask(c, { op = "raise", opts = case.opts })
      assert.truthy(r.raised and r.raised:find("hub.http.request: " .. case.says, 1, true), tostring(r.raised))
    end
  end)

  it("refuses to wait where a script cannot (at load)", function()
    local ok, out = t.check(t.write_script('local hub = require "luahub"\nhub.http.get("http://127.0.0.1:1/")\n'))
    assert.is_false(ok)
    assert.truthy(out:find("hub.http.get: cannot wait here", 1, true), out)
  end)

  it("reuses one kept connection for sequential calls", function()
    request(c, { url = backend:url("/echo") })
    local before = backend:connections()
    for _ = 1, 5 do assert.equal(200, request(c, { url = backend:url("/echo") }).res.status) end
    -- the count after includes the probe's own second connection
    assert.equal(before + 1, backend:connections())
  end)

  it("serves other clients while a call waits", function()
    local slow = connect(srv)
    local started = socket.gettime()
    assert(slow:send_json({ op = "request", opts = { url = backend:url("/slow?s=2") } }))
    local other = connect(srv)
    for n = 1, 20 do
      local asked = socket.gettime()
      assert.equal(n, ask(other, { op = "echo", n = n }, 1).echo)
      assert.is_true(socket.gettime() - asked < 0.5)
    end
    local r = assert(slow:receive_json(10))
    assert.equal(200, r.res.status)
    assert.is_true(socket.gettime() - started >= 1.9)
  end)

  it("lets an HTTP route wait on a call", function()
    local status, _, body = srv:http("GET", "/proxy?url=" .. backend:url("/status?code=201"))
    assert.equal(200, status)
    assert.equal("status 201", body)
  end)

  it("counts calls by result and times them on /metrics", function()
    assert.is_true(metric(srv, 'luahub_outbound_calls_total{kind="http",result="ok"}') >= 10)
    assert.equal(1, metric(srv, 'luahub_outbound_calls_total{kind="http",result="timeout"}'))
    assert.equal(1, metric(srv, 'luahub_outbound_calls_total{kind="http",result="connect"}'))
    assert.equal(2, metric(srv, 'luahub_outbound_calls_total{kind="http",result="too_large"}'))
    assert.equal(0, metric(srv, 'luahub_outbound_in_flight{kind="http"}'))
    assert.is_true(metric(srv, 'luahub_outbound_duration_seconds_count{kind="http"}') >= 14)
  end)

  it("fails with busy at once beyond outbound.max_in_flight", function()
    local one = start_hub({ outbound = { max_in_flight = 1 } })
    local a, b = connect(one), connect(one)
    assert(a:send_json({ op = "request", opts = { url = backend:url("/slow?s=1") } }))
    t.eventually(function() return metric(one, 'luahub_outbound_in_flight{kind="http"}') == 1 end)
    local r = request(b, { url = backend:url("/echo") }, 0.5)
    assert.equal("busy", r.code)
    assert.equal(200, assert(a:receive_json(5)).res.status)
    assert.equal(200, request(b, { url = backend:url("/echo") }).res.status)
    assert.equal(1, metric(one, 'luahub_outbound_calls_total{kind="http",result="busy"}'))
  end)

  it("ends a call in flight with closed when the server stops, and exits cleanly", function()
    -- a timer's call holds no client, so the drain ends at once with the call in flight
    local stopping = t.start(t.write_script(([[
local hub = require "luahub"
hub.after(0, function()
  local res, code, detail = hub.http.get("URL")
  hub.log.info("call ended", { code = code or "ok", detail = detail })
end)
]]):gsub("URL", backend:url("/slow?s=5"))))
    t.eventually(function() return metric(stopping, 'luahub_outbound_in_flight{kind="http"}') == 1 end)
    assert.equal(0, stopping:stop())
    local ended = stopping:log():match("call ended (%b{})")
    assert.same({ code = "closed", detail = "the server is shutting down" }, ended and cjson.decode(ended))
  end)

  describe("over TLS", function()
    local tls_backend, cert

    lazy_setup(function()
      local key
      cert, key = backends.self_signed()
      tls_backend = backends.start({ cert = cert, key = key })
    end)
    lazy_teardown(function() if tls_backend then tls_backend:stop() end end)

    it("fails with tls when the certificate is not trusted", function()
      local r = request(c, { url = tls_backend:url("/echo") })
      assert.equal("tls", r.code)
      assert.truthy(r.detail:find("certificate", 1, true), r.detail)
    end)

    it("trusts the CA of outbound.ca_file", function()
      local trusting = start_hub({ outbound = { ca_file = cert } })
      local r = request(connect(trusting), { url = tls_backend:url("/echo") })
      assert.is_table(r.res, r.detail)
      assert.equal(200, r.res.status)
    end)
  end)
end)
