-- hub.route: plain HTTP endpoints next to the WebSocket path, written in the script.
local cjson = require "cjson"
local t = require "luahub.testing"
local observe = require "support.observe"

local SCRIPT = [[
local hub = require "luahub"

local errors = {}
hub.on("on_error", function(client, err) errors[#errors + 1] = tostring(err):match("[^\n]*") end)
hub.route("GET", "/errors", function() return 200, errors end)

hub.route("GET", "/hello", function(req)
  return 200, "hello " .. (req.params.name or "world"), { ["X-Greeting"] = "yes" }
end)
hub.route("GET", "/json", function() return 200, { a = 1, list = { 1, 2, 3 } } end)
hub.route("GET", "/request", function(req)
  return 200, { method = req.method, path = req.path, query = req.query, params = req.params,
                token = req.headers["x-token"], remote_addr = req.remote_addr }
end)
hub.route("POST", "/echo", function(req)
  return 201, req.body, { ["Content-Type"] = "application/octet-stream" }
end)
hub.route("GET", "/both", function() return 200, "got" end)
hub.route("POST", "/both", function() return 200, "posted" end)
hub.route("get", "/lower", function() return 200, "any case" end)
hub.route("GET", "/nothing", function() return 204 end)
hub.route("GET", "/teapot", function() return 418, "short and stout" end)
local function explode() error("route exploded") end
hub.route("GET", "/boom", function() explode() end)
-- answers a strict client could not read as asked: each one is a 500, reported
hub.route("GET", "/status", function(req) return tonumber(req.params.s) or req.params.s, "body" end)
hub.route("GET", "/header", function(req)
  return 200, "body", { [req.params.name or "X-Ok"] = req.params.value or "fine" }
end)
]]

describe("HTTP routes", function()
  local srv

  lazy_setup(function() srv = t.start(t.write_script(SCRIPT), { http_max_body = 64 }) end)
  lazy_teardown(t.cleanup)

  it("answer with the status, body and headers the function returns", function()
    local status, headers, body = srv:http("GET", "/hello?name=ann")
    assert.equal(200, status)
    assert.equal("hello ann", body)
    assert.equal("yes", headers["x-greeting"])
    assert.truthy(headers["content-type"]:find("text/plain", 1, true), headers["content-type"])
  end)

  it("encode a table body as JSON", function()
    local status, headers, body = srv:http("GET", "/json")
    assert.equal(200, status)
    assert.equal("application/json", headers["content-type"])
    assert.same({ a = 1, list = { 1, 2, 3 } }, cjson.decode(body))
  end)

  it("give the function the method, path, raw and decoded query, headers and peer", function()
    local status, _, body = srv:http("GET", "/request?room=the%20lobby&n=2&flag", { ["X-Token"] = "abc" })
    assert.equal(200, status)
    local req = cjson.decode(body)
    assert.equal("GET", req.method)
    assert.equal("/request", req.path)
    assert.equal("room=the%20lobby&n=2&flag", req.query)
    assert.same({ room = "the lobby", n = "2", flag = "" }, req.params)
    assert.equal("abc", req.token)
    assert.truthy(req.remote_addr:match("^127%.0%.0%.1:%d+$"), req.remote_addr)
  end)

  it("give a POST route the request body", function()
    local status, headers, body = srv:http("POST", "/echo", nil, "payload \0 bytes")
    assert.equal(201, status)
    assert.equal("payload \0 bytes", body)
    assert.equal("application/octet-stream", headers["content-type"])
  end)

  it("refuse a body over http_max_body with 413", function()
    local status = srv:http("POST", "/echo", nil, string.rep("x", 65))
    assert.equal(413, status)
  end)

  it("match the method whatever case the script wrote it in", function()
    local status, _, body = srv:http("GET", "/lower")
    assert.equal(200, status)
    assert.equal("any case", body)
  end)

  it("answer statuses without a body, and any status the function picks", function()
    local status, _, body = srv:http("GET", "/nothing")
    assert.equal(204, status)
    assert.equal("", body)
    status, _, body = srv:http("GET", "/teapot")
    assert.equal(418, status)
    assert.equal("short and stout", body)
  end)

  it("answer 405 with an Allow header naming every method the path has", function()
    local function allowed(path)
      local status, headers = srv:http("PUT", path)
      assert.equal(405, status)
      local list = {}
      for m in (headers["allow"] or ""):gmatch("[A-Z]+") do list[#list + 1] = m end
      table.sort(list)
      return list
    end
    assert.same({ "GET", "HEAD" }, allowed("/hello"))
    assert.same({ "GET", "HEAD", "POST" }, allowed("/both"))
  end)

  it("leave unknown paths to the server's 404", function()
    assert.equal(404, (srv:http("GET", "/no/such/route")))
  end)

  it("answer 500 when the function throws, report the error, and keep serving", function()
    local status, _, body = srv:http("GET", "/boom")
    assert.equal(500, status)
    assert.is_nil(body:find("route exploded", 1, true), "the error leaked to the client: " .. body)
    local errors = observe.wait_json(srv, "/errors", function(e) return #e >= 1 end)
    assert.truthy(errors[1]:match("route exploded$"), errors[1])
    assert.truthy(srv:wait_log("handler error: [^\n]*route exploded", 3), srv:log())
    assert.equal(200, (srv:http("GET", "/hello")))
  end)

  -- each with a pattern of the log line that reports it
  for _, case in ipairs {
    { "/status?s=99", "status 99 is not" }, { "/status?s=600", "status 600 is not" },
    { "/status?s=101", "status 101 is not" }, { "/status?s=100", "status 100 is not" },
    { "/status?s=200.5", "status 200%.5 is not" },
    { "/status?s=ok", "status ok is not" },
    { "/header?name=Bad%20Name", "header name .-Bad Name.- is not an HTTP token" },
    { "/header?name=X%00Y", "header name .- is not an HTTP token" },
    { "/header?value=a%00b", "the value of header X%-Ok contains a control character" },
    { "/header?value=a%0D%0ASet-Cookie:%20x", "the value of header X%-Ok contains a control character" },
  } do
    local path, logged = case[1], case[2]
    it("answer 500 for a route whose answer is not valid HTTP: " .. path, function()
      local status, headers = srv:http("GET", path)
      assert.equal(500, status)
      assert.is_nil(headers["set-cookie"])
      assert.truthy(srv:wait_log("HTTP route GET /[a-z]+: " .. logged, 3), srv:log())
    end)
  end

  it("answer HEAD from the GET route with its headers and no body", function()
    local response = srv:raw("HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    local head, rest = response:match("^(.-\r\n\r\n)(.*)$")
    assert.truthy(head, response)
    assert.truthy(head:match("^HTTP/1%.1 200 "), head)
    assert.equal("", rest, "a HEAD response carried a body")
  end)
end)
