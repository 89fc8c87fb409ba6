-- Rooms of the protocol on the core's primitives. The subscribers of room R are members
-- of the core room PREFIX .. R, not of R itself: hub.publish(R, data) hands `data` as it
-- is to the members of R (clients speaking the script's own frames), while subscribers
-- need it wrapped with its room and position, which only exists once hub.publish
-- returned. So a publication is stored and fanned out raw by hub.publish, then pushed
-- once, encoded once, to the subscribers.
local frames = require "luahub.protocol.frames"
local history = require "luahub.history"

local MAX_RECENT = 1000

return function(hub, prefix)
  local M = {}
  -- Subscribers keep their rooms' positions: a room with subscribers and no publication
  -- yet (or none left) keeps its epoch, so they recover from it.
  history.watch(prefix)

  function M.core(room) return prefix .. room end

  function M.is_subscribed(client, room) return client:in_room(prefix .. room) end

  function M.subscribers(room) return hub.room_clients(prefix .. room) end

  -- data: JSON text. Returns the clients reached (raw and subscribers) and the position
  -- (nil when the room keeps no history).
  function M.publish(room, data)
    local n, pos = hub.publish(room, data)
    if not n then return nil, pos end
    local pushed = hub.to_room(prefix .. room, frames.publication(room, pos, data))
    return n + (pushed or 0), pos
  end

  function M.send(room, data, opts)
    return hub.to_room(prefix .. room, frames.message(room, data), opts)
  end

  -- A subscribe whose history read failed (a broker down) is undone and refused.
  local function unreadable(client, room, why)
    client:leave(prefix .. room)
    return nil, "unavailable", "the history of " .. room .. " cannot be read now (" .. tostring(why) .. ")"
  end

  -- Joins first, then reads the history: a publication made between the two is both in
  -- the history read and pushed live, never in neither; the client drops the second copy
  -- by its offset. since: a position or nil; recent: how many of the latest
  -- publications to send when there is nothing to recover from. Returns the result of
  -- subscribe, or nil, code, message (and the client is not subscribed).
  function M.subscribe(client, room, since, recent)
    local ok, err = client:join(prefix .. room)
    if not ok then return nil, err, "cannot subscribe to " .. room .. " (" .. err .. ")" end
    local pubs, now, recovered
    if since then
      local got, why, at = hub.history(room, { since = since })
      if got then
        pubs, now, recovered = got, why, true
      elseif why == "unrecoverable" then
        now, recovered = at, false
      else
        return unreadable(client, room, why)
      end
    end
    local latest = not recovered and recent
    if latest or not now then
      -- without since, hub.history gives the last `limit` publications; limit 1 when
      -- only the position is wanted
      local got, at_now = hub.history(room, { limit = latest and math.min(recent, MAX_RECENT) or 1 })
      if not got then return unreadable(client, room, at_now) end
      if latest then pubs = got end
      now = at_now
    end
    return frames.subscribed(now, recovered, pubs)
  end

  function M.unsubscribe(client, room)
    return client:leave(prefix .. room)
  end

  return M
end
