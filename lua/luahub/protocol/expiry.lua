-- Credentials that expire: a connection given an expiry is asked for a fresh token a
-- little before it (a "refresh" push the client library answers with the page's token
-- function) and closed with 4001 when the expiry passes without one. The expiry is kept
-- in the client's metadata, which lives in C, so a reload re-arms every timer (the old
-- script's timers stop at a reload).
local frames = require "luahub.protocol.frames"

local KEY = "protocol.expires_at"
local CLOSE_EXPIRED = 4001

return function(hub, opts)
  local ahead = opts.refresh_ahead or 30
  local timers = {}   -- client id -> the pending timer

  local function cancel(client)
    local timer = timers[client.id]
    if timer then timer:cancel() end
    timers[client.id] = nil
  end

  local arm
  -- Closes the connection unless a refresh moved the expiry past now meanwhile.
  local function expire(client)
    timers[client.id] = nil
    local at = client:get(KEY)
    if not at then return end
    if at > hub.now() then return arm(client, at) end
    client:close(CLOSE_EXPIRED, "token expired")
  end

  function arm(client, at)
    cancel(client)
    local left = at - hub.now()
    local ask_in = left - math.min(ahead, left / 2)
    timers[client.id] = hub.after(math.max(ask_in, 0), function()
      if client:is_closed() then return end
      client:send(frames.push("refresh", { expires_in = at - hub.now() }))
      timers[client.id] = hub.after(math.max(at - hub.now(), 0), function() expire(client) end)
    end)
  end

  local M = {}

  -- Sets (seconds > 0) or clears (nil) the connection's expiry.
  function M.set(client, seconds)
    if not seconds then
      cancel(client)
      client:del(KEY)
      return
    end
    local at = hub.now() + seconds
    client:set(KEY, at)
    arm(client, at)
  end

  M.forget = cancel

  -- After a reload: the timers of the connections that have an expiry.
  function M.restore()
    for _, client in ipairs(hub.clients()) do
      local at = client:get(KEY)
      if at then arm(client, at) end
    end
  end

  return M
end
