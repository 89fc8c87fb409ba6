-- luahub.testing's one wait loop: t.eventually and t.poll, without a server.
local t = require "luahub.testing"

describe("t.eventually", function()
  it("returns every result of the first call whose first result is truthy", function()
    local calls = 0
    local a, b, c = t.eventually(function()
      calls = calls + 1
      return calls == 3 and "done", nil, calls
    end)
    assert.same({ "done", nil, 3 }, { a, b, c })
  end)

  it("fails with its message, the timeout and what fn returned last", function()
    local ok, err = pcall(t.eventually, function() return false, { seen = 1 } end,
                          { timeout = 0.05, message = "never seen twice" })
    assert.is_false(ok)
    assert.truthy(err:find('never seen twice (not within 0.05s; last: false, {"seen":1})', 1, true), err)
  end)

  it("fails only after a call that ended past the deadline", function()
    local calls = 0
    local ok = pcall(t.eventually, function()
      calls = calls + 1
      require("socket").sleep(0.03)
    end, { timeout = 0.05 })
    assert.is_false(ok)
    assert.equal(2, calls)
  end)

  it("does not retry an error raised by fn", function()
    local calls = 0
    local ok, err = pcall(t.eventually, function()
      calls = calls + 1
      error("broken connection")
    end)
    assert.is_false(ok)
    assert.equal(1, calls)
    assert.truthy(err:find("broken connection", 1, true))
  end)

  it("refuses a fn that is not a function", function()
    assert.has_error(function() t.eventually("soon") end, "eventually: argument #1 must be a function")
  end)
end)

describe("t.poll", function()
  it("returns nil and the message instead of raising", function()
    local value, message = t.poll(function() return nil, "timeout" end, { timeout = 0.02 })
    assert.is_nil(value)
    assert.equal('the condition never held (not within 0.02s; last: nil, "timeout")', message)
  end)

  it("waits t.default_timeout when given no timeout", function()
    local saved = t.default_timeout
    t.default_timeout = 0.02
    finally(function() t.default_timeout = saved end)
    local _, message = t.poll(function() return false end)
    assert.truthy(message:find("not within 0.02s", 1, true), message)
  end)
end)
