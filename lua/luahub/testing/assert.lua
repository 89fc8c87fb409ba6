--- luahub.testing.assert: assertions about what the server did to a client. Under
-- busted they are also registered with luassert (assert.closed_with(code, c)).
local M = {}

--- Raises unless client receives a close frame with the expected code
-- (a number or a list). Returns code, reason.
function M.assert_closed_with(expected, client, timeout)
  local ok, code, reason = client:check_close(expected, timeout)
  if not ok then error(code, 2) end
  return code, reason
end

-- Outside busted (a script driving a server by hand) luassert may be missing; the
-- plain function above still works.
local has_luassert, luassert = pcall(require, "luassert")
if has_luassert then
  local say = require "say"
  say:set("assertion.closed_with.positive", "Expected the connection to be closed with code %s")
  say:set("assertion.closed_with.negative", "Expected the connection not to be closed with code %s")
  luassert:register("assertion", "closed_with", function(state, arguments)
    local ok, message = arguments[2]:check_close(arguments[1], arguments[3])
    if not ok then state.failure_message = message end
    return ok == true
  end, "assertion.closed_with.positive", "assertion.closed_with.negative")
end

return M
