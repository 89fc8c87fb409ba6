-- Stable error codes of the Lua API. C operations return the negative enum lh_err values
-- (core/lh_errors.h, through luahub.contract); Lua-level refusals use the same codes by name.
local M = {}

local by_rc = {}
for _, e in ipairs(require("luahub.contract").errors) do by_rc[e.rc] = e end

-- true for rc >= 0; else nil, code, message.
function M.result(rc)
  if rc >= 0 then return true end
  local e = by_rc[rc]
  if not e then return nil, "error", "error " .. tostring(rc) end
  return nil, e.code, e.message
end

return M
