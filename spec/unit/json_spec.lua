-- luahub.json, the one encode path: empty arrays, null, "/" unescaped, and the caller's
-- tables left as they were.
local cjson = require "cjson"
local json = require "luahub.json"

describe("luahub.json", function()
  it("writes a marked empty table as [] and an unmarked one as {}", function()
    assert.equal("[]", json.encode(json.array {}))
    assert.equal("[]", json.encode(json.empty_array))
    assert.equal("{}", json.encode {})
    local s = json.encode { list = json.array {}, map = {}, deep = { json.empty_array, { x = json.array() } } }
    assert.same({ list = {}, map = {}, deep = { {}, { x = {} } } }, cjson.decode(s))
    assert.truthy(s:find('"list":[]', 1, true), s)
    assert.truthy(s:find('"map":{}', 1, true), s)
    assert.truthy(s:find('[[],{"x":[]}]', 1, true), s)
  end)

  it("writes a marked non-empty table as the array it is", function()
    assert.equal("[1,2]", json.encode(json.array { 1, 2 }))
  end)

  it("leaves the caller's tables as they were", function()
    local inner = json.array {}
    local value = { a = inner, b = { inner } }
    json.encode(value)
    assert.equal(inner, value.a)
    assert.equal(inner, value.b[1])
  end)

  it("never turns a string of the script's into []", function()
    local s = json.encode { "luahub_empty_array_0", json.array {}, "{}" }
    assert.same({ "luahub_empty_array_0", {}, "{}" }, cjson.decode(s))
  end)

  it("writes null and reads it back as json.null", function()
    assert.equal("[1,null]", json.encode { 1, json.null })
    assert.equal(json.null, json.decode("[null]")[1])
  end)

  it("writes / as itself, also after a backslash", function()
    assert.equal('{"u":"http://a/b"}', json.encode { u = "http://a/b" })
    local tricky = "a\\/b\\\\/c"
    assert.equal(tricky, cjson.decode(json.encode { tricky })[1])
    assert.equal('["a\\\\/b\\\\\\\\/c"]', json.encode { tricky })
  end)

  it("returns nil, bad_json, detail for what JSON cannot hold", function()
    local s, code, detail = json.encode { f = print }
    assert.is_nil(s)
    assert.equal("bad_json", code)
    assert.truthy(detail:find("function", 1, true), detail)
    local v, decode_code = json.decode("{")
    assert.is_nil(v)
    assert.equal("bad_json", decode_code)
  end)

  it("keeps the shared empty array empty", function()
    assert.has_error(function() json.empty_array[1] = 1 end)
    assert.is_nil(next(json.empty_array))
  end)
end)

describe("luahub.suggest", function()
  local suggest = require "luahub.suggest"

  it("finds the closest name, only when it is close", function()
    assert.equal(3, suggest.distance("kitten", "sitting"))
    assert.equal("after_connect", suggest.closest("after_connnect", { "before_connect", "after_connect" }))
    assert.equal("per_user", suggest.closest("per_usr", { "connections", "per_user" }))
    assert.is_nil(suggest.closest("banana", { "per_user", "connections" }))
  end)
end)
