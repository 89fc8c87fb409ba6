-- Stable error codes of the Lua API. C operations return the negative enum conn_err
-- values (core/conn.h); Lua-level refusals use the same codes by name.
local M = {}

local by_rc = {
  [-1]  = { "closed", "the connection is closed or closing" },
  [-2]  = { "not_found", "no such client" },
  [-3]  = { "queue_full", "the client's send queue is full; the message was dropped" },
  [-4]  = { "no_memory", "out of memory" },
  [-5]  = { "bad_argument", "invalid argument" },
  [-6]  = { "room_full", "the room has reached limits.clients_per_room" },
  [-7]  = { "max_rooms", "the client has reached limits.rooms_per_client" },
  [-8]  = { "not_in_room", "the client is not in that room" },
  [-9]  = { "already_in_room", "the client is already in that room" },
  [-10] = { "user_limit", "the user has reached limits.per_user connections" },
}

-- true for rc >= 0; else nil, code, message.
function M.result(rc)
  if rc >= 0 then return true end
  local e = by_rc[rc] or { "error", "error " .. tostring(rc) }
  return nil, e[1], e[2]
end

return M
