-- The frames of the room protocol (docs/protocol.md), as JSON text. Publication data is
-- JSON text already (what hub.publish stored), so it is spliced in as it is: a recovery
-- of a thousand publications encodes none of them again.
local json = require "luahub.json"

local encode, concat = json.encode, table.concat

local M = {}

M.VERSION = 1

-- A value for a reply's result that is JSON text already.
local Raw = {}
function M.raw(s) return setmetatable({ s }, Raw) end
local function text(v)
  if getmetatable(v) == Raw then return v[1] end
  return (assert(encode(v)))
end

function M.result(id, value)
  return '{"id":' .. encode(id) .. ',"result":' .. text(value == nil and {} or value) .. "}"
end

function M.error(id, code, message)
  local e = encode { code = code, message = message or code }
  if id == nil then return '{"error":' .. e .. "}" end
  return '{"id":' .. encode(id) .. ',"error":' .. e .. "}"
end

local function position_fields(pos)
  if not pos then return "" end
  return ',"epoch":' .. encode(pos.epoch) .. ',"offset":' .. pos.offset
end

-- A publication pushed live: room, its position in the room's stream, and its data.
function M.publication(room, pos, data)
  return '{"push":"pub","room":' .. encode(room) .. position_fields(pos) .. ',"data":' .. data .. "}"
end

-- A message that is not kept in the history: to a room's subscribers, or to one client
-- (room nil).
function M.message(room, data)
  local where = room and ',"room":' .. encode(room) or ""
  return '{"push":"msg"' .. where .. ',"data":' .. data .. "}"
end

function M.push(kind, fields)
  fields = fields or {}
  fields.push = kind
  return (assert(encode(fields)))
end

-- The result of subscribe: the room's current position, whether the publications since
-- the asked one could be replayed, and those publications (oldest first).
function M.subscribed(now, recovered, pubs)
  local items = {}
  for i, p in ipairs(pubs or {}) do
    items[i] = '{"offset":' .. p.offset .. ',"data":' .. p.data .. "}"
  end
  local head = { "{" }
  if now then head[#head + 1] = '"epoch":' .. encode(now.epoch) .. ',"offset":' .. now.offset .. "," end
  if recovered ~= nil then head[#head + 1] = '"recovered":' .. tostring(recovered) .. "," end
  return M.raw(concat(head) .. '"publications":[' .. concat(items, ",") .. "]}")
end

-- JSON text for a value decoded from a client's frame (a string is a JSON string then).
function M.value(value) return encode(value) end

-- JSON text for data given as a Lua value, or as JSON text already (a string).
function M.data(value)
  if type(value) == "string" then return value end
  return encode(value)
end

return M
