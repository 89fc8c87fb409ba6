-- hub.route with path parameters and a final *: exact routes win, then patterns in the
-- order they were registered; 405 and Allow count patterns too.
local cjson = require "cjson"
local t = require "luahub.testing"

local SCRIPT = [[
local hub = require "luahub"
hub.route("GET", "/items/:id", function(req) return 200, { id = req.params.id, q = req.params.q } end)
hub.route("GET", "/items/new", function() return 200, { exact = true } end)
hub.route("DELETE", "/items/:id", function(req) return 200, { deleted = req.params.id } end)
hub.route("GET", "/users/:user/posts/:post", function(req)
  return 200, { user = req.params.user, post = req.params.post }
end)
hub.route("GET", "/static/*", function(req) return 200, { splat = req.splat } end)
hub.route("GET", "/:any", function(req) return 200, { any = req.params.any } end)
]]

describe("HTTP route patterns", function()
  local srv

  lazy_setup(function() srv = t.start(t.write_script(SCRIPT)) end)
  lazy_teardown(t.cleanup)

  local function get(path, method)
    local status, headers, body = srv:http(method or "GET", path)
    local json = headers["content-type"] == "application/json" and body ~= "" and cjson.decode(body)
    return status, headers, json or body
  end

  it("give each :name segment to req.params, decoded, over a query parameter of that name", function()
    local status, _, body = get("/items/a%20b?q=x&id=query")
    assert.equal(200, status)
    assert.same({ id = "a b", q = "x" }, body)
    assert.same({ user = "ann", post = "7" }, select(3, get("/users/ann/posts/7")))
  end)

  it("let an exact route win over a pattern registered before it", function()
    assert.same({ exact = true }, select(3, get("/items/new")))
  end)

  it("give the rest of the path after a * to req.splat", function()
    assert.same({ splat = "css/site.css" }, select(3, get("/static/css/site.css")))
    assert.same({ splat = "" }, select(3, get("/static/")))
    assert.same({ any = "static" }, select(3, get("/static")))   -- * needs the "/" after the prefix
  end)

  it("match a parameter to one non-empty segment only", function()
    assert.equal(404, (get("/items/")))
    assert.equal(404, (get("/items/1/2")))
  end)

  it("answer 405 with Allow computed over patterns, HEAD with GET", function()
    local status, headers = get("/items/3", "POST")
    assert.equal(405, status)
    assert.equal("DELETE, GET, HEAD", headers.allow)
    assert.same({ deleted = "3" }, select(3, get("/items/3", "DELETE")))
    assert.equal(200, (get("/items/3", "HEAD")))
  end)
end)
