-- What the protocol specs (spec/protocol/*_spec.lua) say about publications: their
-- offsets, their values ({ i = n } data), ranges, and publishing a run of them.
local M = {}

function M.offsets(pubs)
  local list = {}
  for i, p in ipairs(pubs) do list[i] = p.offset end
  return list
end

function M.values(pubs)
  local list = {}
  for i, p in ipairs(pubs) do list[i] = p.data.i end
  return list
end

function M.range(a, b)
  local list = {}
  for i = a, b do list[#list + 1] = i end
  return list
end

-- Publishes { i = first } .. { i = last } through c, a protocol connection.
function M.publish_n(c, room, first, last)
  for i = first, last do assert(c:publish(room, { i = i })) end
end

return M
