-- The core's shape (docs/architecture.md, "Layers"): each file of core/ belongs to one
-- layer and includes only headers of its own layer or the ones below; within a layer
-- there is no include cycle except the transport pair conn/ws. A new file must be given
-- a layer here, so the table stays the one map of the core.
local LAYERS = {
  leaf      = { "frame", "sendq", "group", "utf8", "log", "config", "config_keys", "envelope",
                "timer", "metrics", "ws_stream", "lh_errors", "lh_api", "static", "base64",
                "broker_url", "backoff", "redis_link", "redis_reply", "redis_slot", "arena", "shdict", "embedded",
                "history", "history_policy", "textbuf", "json_field", "reqhead", "slab", "write_ring" },
  transport = { "conn", "ws", "http", "handshake", "deflate", "listener" },
  hub       = { "hub", "client", "room", "meta", "backpressure", "fanout_batch" },
  top       = { "lua_bridge", "lua_modules", "task", "sleep", "shared", "guard", "notify", "script_api", "cluster", "cluster_redis", "cluster_redis_shards", "cluster_nats", "serve", "admin",
                "stats", "server", "outbound_http",
                "outbound_redis", "outbound_nats", "parent", "new_project", "history_api", "workers" },
  wiring    = { "app", "main" },
}
local ORDER = { "leaf", "transport", "hub", "top", "wiring" }
local ALLOWED_CYCLES = { ["conn ws"] = true }

local rank_of, layer_of = {}, {}
for rank, layer in ipairs(ORDER) do
  for _, module in ipairs(LAYERS[layer]) do rank_of[module], layer_of[module] = rank, layer end
end

-- module (file stem) -> { included module = true }, over core/*.c and core/*.h
local function include_graph()
  local graph = {}
  local list = assert(io.popen("ls core/*.c core/*.h"))
  for path in list:lines() do
    local module = path:match("^core/(.-)%.[ch]$")
    graph[module] = graph[module] or {}
    for line in io.lines(path) do
      local inc = line:match('^#include "(.-)%.h"')
      if inc and inc ~= module then graph[module][inc] = path end
    end
  end
  list:close()
  return graph
end

describe("the core's layers", function()
  local graph = include_graph()

  it("give every file of core/ a layer", function()
    for module in pairs(graph) do
      assert.is_not_nil(rank_of[module], "core/" .. module .. ".[ch] has no layer in spec/unit/layers_spec.lua")
    end
  end)

  it("include nothing from a layer above", function()
    for module, incs in pairs(graph) do
      for inc, path in pairs(incs) do
        if rank_of[module] and rank_of[inc] then
          assert.is_true(rank_of[inc] <= rank_of[module], ("%s (%s) includes %s.h (%s)"):format(
            path, layer_of[module], inc, layer_of[inc]))
        end
      end
    end
  end)

  it("have no include cycle but conn/ws", function()
    -- depth-first search; a back edge closes a cycle, reported with its path
    local state, stack = {}, {}
    local function visit(m)
      state[m] = "open"
      stack[#stack + 1] = m
      for inc in pairs(graph[m] or {}) do
        if state[inc] == "open" then
          local cycle, on = {}, false
          for _, s in ipairs(stack) do
            if s == inc then on = true end
            if on then cycle[#cycle + 1] = s end
          end
          table.sort(cycle)
          local key = table.concat(cycle, " ")
          assert.is_true(ALLOWED_CYCLES[key] == true, "include cycle: " .. key)
        elseif state[inc] == nil and graph[inc] then
          visit(inc)
        end
      end
      stack[#stack] = nil
      state[m] = "done"
    end
    for m in pairs(graph) do if not state[m] then visit(m) end end
  end)
end)
