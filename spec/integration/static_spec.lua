-- Static files served beside the WebSocket endpoint, without path traversal.
local t = require "luahub.testing"
local hubs = require "support.hubs"

local SECRET = "TOP-SECRET-7f3a9c"
local PNG = "\137PNG\r\n\26\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\8\6\0\0\0\31\21\196\137\0\0\0\0IEND\174B`\130"

local function sh(command)
  local status = os.execute(command)
  assert(status == 0 or status == true, "failed: " .. command)
end

describe("static files", function()
  local srv, public

  lazy_setup(function()
    local dir = t.tmpdir()
    public = dir .. "/public"
    sh("mkdir -p '" .. public .. "/sub'")
    t.write_file(dir .. "/secret", SECRET)
    t.write_file(public .. "/index.html", "<!doctype html><title>luahub</title>")
    t.write_file(public .. "/style.css", "body { color: red }")
    t.write_file(public .. "/app.js", "console.log('hi')")
    t.write_file(public .. "/logo.png", PNG)
    t.write_file(public .. "/sub/page.html", "<p>sub</p>")
    sh("ln -s ../secret '" .. public .. "/leak'")
    srv = hubs.start_echo { static = public }
  end)
  lazy_teardown(t.cleanup)

  local function get(path, method)
    local status, headers, body = srv:http(method or "GET", path)
    assert(status, "request failed: " .. tostring(headers))
    return status, headers, body
  end

  it("serves index.html at / as text/html", function()
    local status, headers, body = get("/")
    assert.equal(200, status)
    assert.truthy((headers["content-type"] or ""):match("^text/html"), headers["content-type"])
    assert.equal("<!doctype html><title>luahub</title>", body)
  end)

  it("serves index.html by name", function()
    local status, _, body = get("/index.html")
    assert.equal(200, status)
    assert.equal("<!doctype html><title>luahub</title>", body)
  end)

  it("serves a .css file as text/css", function()
    local status, headers, body = get("/style.css")
    assert.equal(200, status)
    assert.truthy((headers["content-type"] or ""):match("^text/css"), headers["content-type"])
    assert.equal("body { color: red }", body)
  end)

  it("serves a .js file as JavaScript", function()
    local status, headers = get("/app.js")
    assert.equal(200, status)
    local content_type = headers["content-type"] or ""
    assert.truthy(content_type:match("^text/javascript") or content_type:match("^application/javascript"),
      content_type)
  end)

  it("serves a .png file as image/png with its exact bytes", function()
    local status, headers, body = get("/logo.png")
    assert.equal(200, status)
    assert.equal("image/png", headers["content-type"])
    assert.is_true(body == PNG, "PNG bytes differ")
  end)

  it("serves files in subdirectories", function()
    local status, _, body = get("/sub/page.html")
    assert.equal(200, status)
    assert.equal("<p>sub</p>", body)
  end)

  it("answers 404 for a missing file", function()
    assert.equal(404, (get("/missing.html")))
  end)

  for _, path in ipairs { "/../secret", "/%2e%2e/secret", "/%2E%2E%2Fsecret", "/a/../../secret",
                          "/sub/../../secret", "/..%2fsecret", "/%2e%2e%5csecret", "/sub/%2e%2e/%2e%2e/secret" } do
    it(("refuses the traversal %s with 400 or 404 and never leaks the file"):format(path), function()
      local response = srv:raw(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"):format(path), 3)
      assert.is_falsy(response:find(SECRET, 1, true), "the secret leaked")
      local status = tonumber(response:match("^HTTP/1%.[01] (%d+)"))
      assert.is_true(status == 400 or status == 404, ("got %s"):format(tostring(status)))
    end)
  end

  it("does not follow a symlink that points outside the static directory", function()
    local status, _, body = get("/leak")
    assert.is_falsy(body:find(SECRET, 1, true), "the secret leaked")
    assert.is_true(status == 400 or status == 403 or status == 404, "got " .. status)
  end)

  it("answers 405 to a method other than GET or HEAD on a static path", function()
    assert.equal(405, (get("/index.html", "DELETE")))
    assert.equal(405, (get("/style.css", "PUT")))
  end)

  it("still upgrades WebSocket connections on ws_path", function()
    local c = assert(srv:connect())
    c:send("beside static")
    assert.equal("beside static", c:receive())
  end)
end)

describe("without a static directory", function()
  local srv
  lazy_setup(function() srv = hubs.start_echo() end)
  lazy_teardown(t.cleanup)

  it("answers 404 to an unknown path", function()
    assert.equal(404, (srv:http("GET", "/index.html")))
    assert.equal(404, (srv:http("GET", "/nothing/here")))
  end)
end)
