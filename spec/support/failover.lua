-- The loss of one broker server while clients keep receiving, measured the same way for
-- the Redis Cluster and NATS cluster specs: a client on one luahub node sends a numbered
-- message to each watched room every SEND_EVERY seconds, a client on another node reads
-- them; part way the spec's `kill` runs. The run ends once RESUMED messages sent after
-- the kill have arrived for every room, or at the deadline. Per room it reports what was
-- lost and the longest silence at the receiver.
local socket = require "socket"

local M = {}

-- The hub both specs run on every node: join a room, send to a room, broadcast.
M.HUB = [[
local hub = require "luahub"
hub.handle(function(client, msg)
  local m = hub.json.decode(msg.data)
  if m.op == "join" then
    client:join(m.room)
    client:send("ack")
  elseif m.op == "room" then
    hub.to_room(m.room, m.data)
  elseif m.op == "broadcast" then
    hub.broadcast(m.data)
  end
end)
]]

local SEND_EVERY = 0.05
local BEFORE_KILL = 10       -- messages per room before the kill
local RESUMED = 20           -- messages per room sent after the kill that must arrive

local now = socket.gettime

--- sender, receiver: clients of a hub whose handler sends {op="room", room, data} to the
-- room; both already members of every room in rooms. kill(): the fault. deadline:
-- seconds after the kill for every room to be receiving again. Returns per room
-- { sent, received, lost = { seq... }, resumed_after = seconds from the kill to the
-- first message sent after it arriving, gap = the longest silence }, and the time the
-- kill took.
function M.run(sender, receiver, rooms, kill, deadline)
  local stats = {}
  for _, room in ipairs(rooms) do stats[room] = { sent = 0, got = {}, last_at = nil, gap = 0 } end
  local seq, killed_at, kill_seq = 0, nil, nil
  local next_send = now()
  local stop_at = math.huge
  local function done()
    if not killed_at then return false end
    for _, st in pairs(stats) do
      local after = 0
      for s in pairs(st.got) do if s > kill_seq then after = after + 1 end end
      if after < RESUMED then return false end
    end
    return true
  end
  while now() < stop_at and not done() do
    if now() >= next_send then
      seq = seq + 1
      for _, room in ipairs(rooms) do
        sender:send_json { op = "room", room = room, data = room .. ":" .. seq }
        stats[room].sent = seq
      end
      next_send = next_send + SEND_EVERY
      if seq == BEFORE_KILL then
        kill_seq = seq
        local t0 = now()
        kill()
        killed_at = now()
        stop_at = killed_at + deadline
        for _, st in pairs(stats) do st.kill_took = killed_at - t0 end
      end
    end
    local data = receiver:receive(math.max(0.001, math.min(0.02, next_send - now())))
    if data then
      local room, n = data:match("^(.-):(%d+)$")
      local st = room and stats[room]
      if st then
        n = tonumber(n)
        local at = now()
        if st.last_at then st.gap = math.max(st.gap, at - st.last_at) end
        st.last_at = at
        st.got[n] = (st.got[n] or 0) + 1
        if killed_at and n > kill_seq and not st.resumed_after then st.resumed_after = at - killed_at end
      end
    end
  end
  for _, st in pairs(stats) do
    st.lost, st.doubled, st.received = {}, {}, 0
    -- a room's messages arrive in order: a gap below the newest one received is a loss
    -- (the newest sends may still be on their way when the run ends)
    local newest = 0
    for s in pairs(st.got) do newest = math.max(newest, s) end
    for s = 1, newest do
      if not st.got[s] then st.lost[#st.lost + 1] = s end
    end
    for s, times in pairs(st.got) do
      st.received = st.received + 1
      if times > 1 then st.doubled[#st.doubled + 1] = s end
    end
    st.kill_seq = kill_seq
  end
  return stats
end

--- One line per room, for the spec's output and failure messages.
function M.describe(stats)
  local lines = {}
  for room, st in pairs(stats) do
    lines[#lines + 1] = ("%s: sent %d, received %d, lost %d (%s), first post-kill message after %s s, longest silence %.2f s")
      :format(room, st.sent, st.received, #st.lost, table.concat(st.lost, ","),
              st.resumed_after and ("%.2f"):format(st.resumed_after) or "never", st.gap)
  end
  table.sort(lines)
  return table.concat(lines, "\n")
end

return M
