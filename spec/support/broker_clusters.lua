-- Clustered brokers for the specs past one broker: a Redis Cluster (masters, each with
-- replicas, made by redis-cli --cluster create) and a NATS cluster (servers joined by
-- routes), on free loopback ports, each server started and stopped by PID through
-- support.brokers, ready (cluster_state:ok everywhere / every route up) within a
-- deadline. Also a small RESP client to ask a Redis node what it serves.
local socket = require "socket"
local cjson = require "cjson"
local t = require "luahub.testing"
local brokers = require "support.brokers"
local tools = require "support.tools"

local M = {}

local READY_TIMEOUT = 30   -- seconds a new cluster may take to agree on its state

----------------------------------------------------------------------------- RESP

local function read_reply(s)
  local line, err = s:receive("*l")
  if not line then return nil, err end
  local kind, rest = line:sub(1, 1), line:sub(2)
  if kind == "+" then return rest end
  if kind == "-" then return { err = rest } end
  if kind == ":" then return tonumber(rest) end
  if kind == "$" then
    local n = tonumber(rest)
    if n < 0 then return false end
    local data = s:receive(n + 2)
    return data and data:sub(1, n)
  end
  if kind == "*" then
    local n = tonumber(rest)
    if n < 0 then return false end
    local list = {}
    for i = 1, n do
      local v, e = read_reply(s)
      if v == nil then return nil, e end
      list[i] = v
    end
    return list
  end
  return nil, "bad reply line " .. line
end

--- One command to the Redis on a loopback port: its reply (a string, number, list, or
-- { err = "..." }), or nil, why when nothing answers.
function M.redis(port, ...)
  local args = { ... }
  local s = socket.tcp()
  s:settimeout(2)
  local ok, err = s:connect("127.0.0.1", port)
  if not ok then return nil, err end
  local parts = { "*" .. #args .. "\r\n" }
  for _, a in ipairs(args) do
    a = tostring(a)
    parts[#parts + 1] = "$" .. #a .. "\r\n" .. a .. "\r\n"
  end
  s:send(table.concat(parts))
  local reply, rerr = read_reply(s)
  s:close()
  return reply, rerr
end

local function info_field(text, name)
  return type(text) == "string" and text:match(name .. ":([^\r\n]*)") or nil
end

----------------------------------------------------------------------------- Redis Cluster

local RedisCluster = {}
RedisCluster.__index = RedisCluster

--- A Redis Cluster of opts.masters (3) masters with opts.replicas (1) replicas each, a
-- node failing over after opts.node_timeout ms (1000) without contact.
function M.redis_cluster(opts)
  opts = opts or {}
  brokers.need("redis")
  tools.need_command("redis-cli", "redis-tools")
  local masters, replicas = opts.masters or 3, opts.replicas or 1
  local c = setmetatable({ nodes = {}, node_timeout = opts.node_timeout or 1000 }, RedisCluster)
  for i = 1, masters * (1 + replicas) do
    local bus = t.free_port()
    c.nodes[i] = brokers.start("redis", nil, nil, { dir = t.tmpdir(), args = c:args(bus) })
    c.nodes[i].bus_port = bus
  end
  local addrs = {}
  for i, n in ipairs(c.nodes) do addrs[i] = "127.0.0.1:" .. n.port end
  local cmd = ("redis-cli --cluster create %s --cluster-replicas %d --cluster-yes 2>&1")
    :format(table.concat(addrs, " "), replicas)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  c:wait_ok(READY_TIMEOUT, "redis-cli --cluster create:\n" .. out)
  return c
end

-- A node's settings. The cluster bus port is its own free port: by default it would be
-- the client port + 10000, past 65535 for a free port above 55535 (Redis refuses then).
-- A replica's first sync starts at once, not after the 5 s diskless sync waits by default.
function RedisCluster:args(bus_port)
  return { "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
           "--cluster-port", tostring(bus_port), "--cluster-node-timeout", tostring(self.node_timeout),
           "--repl-diskless-sync-delay", "0" }
end

--- cluster.url for luahub: the first `seeds` nodes (all when nil).
function RedisCluster:url(seeds)
  local list = {}
  for i, n in ipairs(self.nodes) do
    if not seeds or i <= seeds then list[#list + 1] = "127.0.0.1:" .. n.port end
  end
  return "redis-cluster://" .. table.concat(list, ",")
end

--- The live nodes that are masters serving slots, by CLUSTER SLOTS of any live node:
-- { [port] = { from, to }... } per master port.
function RedisCluster:slots()
  for _, n in ipairs(self.nodes) do
    if n:alive() then
      local r = M.redis(n.port, "CLUSTER", "SLOTS")
      if type(r) == "table" and not r.err then
        local masters = {}
        for _, e in ipairs(r) do
          local port = e[3][2]
          masters[port] = masters[port] or {}
          table.insert(masters[port], { e[1], e[2] })
        end
        return masters
      end
    end
  end
end

--- The node (a support.brokers broker) that is the master serving slot, as the live
-- nodes say.
function RedisCluster:master_of(slot)
  for port, ranges in pairs(self:slots() or {}) do
    for _, r in ipairs(ranges) do
      if slot >= r[1] and slot <= r[2] then
        for _, n in ipairs(self.nodes) do
          if n.port == port then return n end
        end
      end
    end
  end
end

function RedisCluster:masters()
  local list = {}
  for port in pairs(self:slots() or {}) do
    for _, n in ipairs(self.nodes) do
      if n.port == port then list[#list + 1] = n end
    end
  end
  table.sort(list, function(a, b) return a.port < b.port end)
  return list
end

--- The hash slot of a key or channel, as the cluster computes it.
function RedisCluster:keyslot(key)
  for _, n in ipairs(self.nodes) do
    if n:alive() then return M.redis(n.port, "CLUSTER", "KEYSLOT", key) end
  end
end

--- Every live node says cluster_state:ok, every replica has synced with its master, and
-- all slots are served by live masters (a killed master's slots by its promoted replica).
function RedisCluster:ok()
  for _, n in ipairs(self.nodes) do
    if n:alive() then
      local info = M.redis(n.port, "CLUSTER", "INFO")
      if info_field(info, "cluster_state") ~= "ok" or info_field(info, "cluster_slots_ok") ~= "16384" then
        return false
      end
      -- a replica that has not synced once would not take over from its master
      local repl = M.redis(n.port, "INFO", "replication")
      if info_field(repl, "role") == "slave" and info_field(repl, "master_link_status") ~= "up" then
        return false
      end
    end
  end
  local served = 0
  for port, ranges in pairs(self:slots() or {}) do
    local live = false
    for _, n in ipairs(self.nodes) do live = live or (n.port == port and n:alive()) end
    if not live then return false end   -- not yet failed over
    for _, r in ipairs(ranges) do served = served + r[2] - r[1] + 1 end
  end
  return served == 16384
end

function RedisCluster:wait_ok(timeout, context)
  if not t.poll(function() return self:ok() end, { timeout = timeout or READY_TIMEOUT }) then
    local states = {}
    for _, n in ipairs(self.nodes) do
      local info = n:alive() and M.redis(n.port, "CLUSTER", "INFO")
      states[#states + 1] = ("%d: %s"):format(n.port, tostring(info_field(info, "cluster_state")))
    end
    error(("the Redis Cluster is not ok (%s)%s"):format(table.concat(states, ", "),
      context and ("\n" .. context) or ""), 2)
  end
end

--- Moves slot (and its keys) to the master `to`, as redis-cli --cluster reshard does:
-- IMPORTING on the target, MIGRATING on the source, MIGRATE each key, then NODE on every
-- master. Raises when a step is refused.
function RedisCluster:move_slot(slot, to)
  local from = assert(self:master_of(slot), "no master serves slot " .. slot)
  local function id(node) return M.redis(node.port, "CLUSTER", "MYID") end
  local function ok(reply, what) assert(reply == "OK", what .. ": " .. tostring(type(reply) == "table" and reply.err or reply)) end
  ok(M.redis(to.port, "CLUSTER", "SETSLOT", slot, "IMPORTING", id(from)), "IMPORTING")
  ok(M.redis(from.port, "CLUSTER", "SETSLOT", slot, "MIGRATING", id(to)), "MIGRATING")
  local keys = M.redis(from.port, "CLUSTER", "GETKEYSINSLOT", slot, 1000)
  for _, key in ipairs(keys) do ok(M.redis(from.port, "MIGRATE", "127.0.0.1", to.port, key, 0, 5000), "MIGRATE " .. key) end
  for _, m in ipairs(self:masters()) do ok(M.redis(m.port, "CLUSTER", "SETSLOT", slot, "NODE", id(to)), "NODE") end
  return from
end

--- Subscribers of a sharded channel on one node (PUBSUB SHARDNUMSUB).
function RedisCluster:shard_subscribers(node, channel)
  local r = M.redis(node.port, "PUBSUB", "SHARDNUMSUB", channel)
  return type(r) == "table" and tonumber(r[2]) or nil
end

--- SPUBLISH calls a node has served (INFO commandstats).
function RedisCluster:spublish_calls(node)
  local info = M.redis(node.port, "INFO", "commandstats")
  return tonumber(type(info) == "string" and info:match("cmdstat_spublish:calls=(%d+)") or 0)
end

--- Starts a killed node again on its port with its files (nodes.conf): it rejoins.
function RedisCluster:restart_node(node)
  for i, n in ipairs(self.nodes) do
    if n == node then
      self.nodes[i] = n:restart(self:args(n.bus_port))
      self.nodes[i].bus_port = n.bus_port
      return self.nodes[i]
    end
  end
end

--- The broker interface spec/support/cluster_suite.lua drives (as support.brokers' one
-- server): subscribers of a channel over all masters, kill and restart of every node.
function RedisCluster:subscribers(channel)
  local n = 0
  for _, m in ipairs(self:masters()) do n = n + (self:shard_subscribers(m, channel) or 0) end
  return n
end

function RedisCluster:kill()
  for _, n in ipairs(self.nodes) do n:kill() end
end

function RedisCluster:restart()
  for i, n in ipairs(self.nodes) do
    self.nodes[i] = n:restart(self:args(n.bus_port))
    self.nodes[i].bus_port = n.bus_port
  end
  self:wait_ok()
  return self
end

function RedisCluster:stop()
  for _, n in ipairs(self.nodes) do n:stop() end
end

----------------------------------------------------------------------------- NATS cluster

local NatsCluster = {}
NatsCluster.__index = NatsCluster

--- n (3) nats-servers, each routed to all the others, ready when every one reports
-- n - 1 routes.
function M.nats_cluster(n)
  brokers.need("nats")
  n = n or 3
  local c = setmetatable({ servers = {}, cluster_ports = {} }, NatsCluster)
  for i = 1, n do c.cluster_ports[i] = t.free_port() end
  local routes = {}
  for i, port in ipairs(c.cluster_ports) do routes[i] = "nats://127.0.0.1:" .. port end
  for i = 1, n do
    c.servers[i] = brokers.start("nats", nil, nil, { args = {
      "--cluster_name", "luahub-spec", "--cluster", "nats://127.0.0.1:" .. c.cluster_ports[i],
      "--routes", table.concat(routes, ","), "-n", "nats-" .. i } })
  end
  if not t.poll(function() return c:routed() end, { timeout = READY_TIMEOUT }) then
    c:stop()
    error("the NATS servers did not all route to each other within " .. READY_TIMEOUT .. " s", 2)
  end
  return c
end

local function monitor(server, path)
  local body = brokers.http_get(server.monitor_port, path)
  return body and cjson.decode(body)
end

--- Every live server has a route to every other live one.
function NatsCluster:routed()
  local live = 0
  for _, s in ipairs(self.servers) do if s:alive() then live = live + 1 end end
  for _, s in ipairs(self.servers) do
    if s:alive() then
      local doc = monitor(s, "/routez")
      if not doc or doc.num_routes ~= live - 1 then return false end
    end
  end
  return true
end

--- cluster.url listing the servers in the given order (indexes), all when nil.
function NatsCluster:url(order)
  local list = {}
  for i, s in ipairs(self.servers) do
    local pick = order and self.servers[order[i]] or (not order and s)
    if pick then list[#list + 1] = "127.0.0.1:" .. pick.port end
  end
  return "nats://" .. table.concat(list, ",")
end

--- How many client connections named "luahub" a server holds.
function NatsCluster:luahub_clients(server)
  local doc = monitor(server, "/connz")
  if not doc then return nil end
  local n = 0
  for _, c in ipairs(doc.connections or {}) do
    if c.name == "luahub" then n = n + 1 end
  end
  return n
end

function NatsCluster:stop()
  for _, s in ipairs(self.servers) do s:stop() end
end

return M
