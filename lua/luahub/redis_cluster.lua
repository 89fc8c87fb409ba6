-- hub.redis on a Redis Cluster (redis-cluster://[[user]:password@]host:port,host:port):
-- each call goes to the master serving its first key's hash slot, over that master's
-- own hub.redis connection (redis://..., one per node, as luahub.redis_client opens
-- them). The slots come from CLUSTER SLOTS, asked of the known nodes in turn when a slot
-- is not known or a call found the map stale; a MOVED reply is followed (and the map
-- asked for again), at most REDIRECTS times per call. ASK (a slot being migrated) is
-- not followed: the call answers it as a "redis" error. A call without a key (PING,
-- INFO, EVAL with no keys) goes to the first node that answers for the slots.
local C = require "luahub.ffi"

local type, tostring, tonumber, unpack = type, tostring, tonumber, unpack

local M = {}

local REDIRECTS = 5

local KEYLESS = {}
for _, c in ipairs { "PING", "ECHO", "INFO", "TIME", "CLUSTER", "COMMAND", "DBSIZE", "SCRIPT",
                     "FUNCTION", "CONFIG", "LASTSAVE", "CLIENT", "ACL", "ROLE", "AUTH" } do
  KEYLESS[c] = true
end
local NUMKEYS = { EVAL = true, EVALSHA = true, EVAL_RO = true, EVALSHA_RO = true, FCALL = true,
                  FCALL_RO = true }

-- The first key of a command (args as the script gave them), or nil when it has none.
local function first_key(args)
  local cmd = tostring(args[1]):upper()
  if KEYLESS[cmd] then return nil end
  if NUMKEYS[cmd] then
    if (tonumber(args[3]) or 0) < 1 then return nil end
    return args[4]
  end
  if cmd == "XREAD" or cmd == "XREADGROUP" then
    for i = 2, args.n - 1 do
      if tostring(args[i]):upper() == "STREAMS" then return args[i + 1] end
    end
    return nil
  end
  return args[2]
end

local Cluster = {}
Cluster.__index = Cluster

-- url: redis-cluster://...; open(url, opts): a node's handle (luahub.redis_client's new).
-- Raises on a URL it cannot use.
function M.new(url, opts, open)
  local rest = url:match("^redis%-cluster://(.*)$")
  local creds, hostpart = rest:match("^(.*@)([^@]*)$")
  if not creds then creds, hostpart = "", rest end
  local hosts, db = hostpart:match("^([^/]*)/?(.*)$")
  if db ~= "" and db ~= "0" then
    error(("hub.redis: %q: a Redis Cluster has only database 0"):format(url:gsub("//.*@", "//***@")), 3)
  end
  local self = setmetatable({ creds = creds, opts = opts, open = open, nodes = {}, order = {},
                              slots = {}, stale = true }, Cluster)
  for host in hosts:gmatch("[^,]+") do self:node(host) end
  if #self.order == 0 then error(("hub.redis: %q: no host"):format(url), 3) end
  return self
end

-- The handle of the node at "host:port" (opened the first time).
function Cluster:node(addr)
  local h = self.nodes[addr]
  if not h then
    h = self.open("redis://" .. self.creds .. addr, self.opts)
    self.nodes[addr] = h
    self.order[#self.order + 1] = addr
  end
  return h
end

-- The slot map from the first node that answers CLUSTER SLOTS: true, or nil, code,
-- detail from the last one asked.
function Cluster:refresh()
  local code, detail
  for i = 1, #self.order do
    local addr = self.order[i]
    local r, c, d = self.nodes[addr]:call("CLUSTER", "SLOTS")
    if type(r) == "table" then
      local slots = {}
      for _, e in ipairs(r) do
        local master = e[3]
        local host = master[1] ~= "" and master[1] or addr:match("^(.*):%d+$")
        local to = host:find(":", 1, true) and ("[" .. host .. "]:" .. master[2]) or (host .. ":" .. master[2])
        for s = e[1], e[2] do slots[s] = to end
        self:node(to)
      end
      self.slots, self.stale, self.first = slots, false, addr
      return true
    end
    code, detail = c, d
  end
  return nil, code, detail
end

-- Sends the command (args: a table with n) to the slot's master, following MOVED.
function Cluster:call(args)
  local key = first_key(args)
  local slot = key ~= nil and C.lh_redis_slot(tostring(key), #tostring(key)) or nil
  if self.stale or (slot and not self.slots[slot]) then
    local ok, code, detail = self:refresh()
    if not ok then return nil, code, detail end
  end
  local addr = slot and self.slots[slot] or self.first
  for _ = 1, REDIRECTS do
    local r, code, detail = self:node(addr):call(unpack(args, 1, args.n))
    if code == "connect" or code == "closed" then self.stale = true end
    local moved = code == "redis" and detail:match("^MOVED %d+ (%S+)")
    if not moved then return r, code, detail end
    self.stale = true   -- a slot moved: others may have too
    addr = moved
  end
  return nil, "redis", ("still redirected after %d MOVED replies"):format(REDIRECTS)
end

return M
