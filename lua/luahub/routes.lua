-- The HTTP routes of hub.route: exact paths, and patterns whose segments may be
-- parameters (/items/:id) and whose last segment may be * (the rest of the path). An exact
-- route wins; then patterns are tried in the order they were registered. Mistakes in one
-- path raise at hub.route; a route that another makes unreachable is one of the script's
-- problems (luahub check, start, reload).
local mistake = require "luahub.mistake"

local M = {}

-- method -> { exact = { [path] = route }, patterns = { route, ... } }; a route is
-- { method, path, fn, at = "hub.lua:12", segs = { { literal = s } | { param = name } }, splat }
local by_method = {}

-- What a request path can hold (RFC 3986 pchar and "/"): anything else never arrives.
local PATH_CHARS = "^[%w%-._~!$&'()*+,;=:@/%%]*$"

local function segments(path)
  local list = {}
  for seg in (path:sub(2) .. "/"):gmatch("([^/]*)/") do list[#list + 1] = seg end
  return list
end

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- The first thing in path that no request path can hold, and its fix; nil when none.
local function unreachable_char(path)
  local q = path:find("[?#]")
  if q then
    return ("%q holds %q, which ends a request's path"):format(path, path:sub(q, q)),
      "route the path alone and read the query from req.params"
  end
  if not path:find(PATH_CHARS) then
    local bad = path:match("[^%w%-._~!$&'()*+,;=:@/%%]")
    return ("%q holds %q, which a request path cannot"):format(path, bad),
      ("percent-encode it as a client sends it (%%%02X)"):format(bad:byte())
  end
  local pct = path:match("%%[^%x]") or path:match("%%%x[^%x]") or path:match("%%%x?$")
  if pct then
    return ("%q holds %q, a %% not followed by two hex digits"):format(path, pct), "write %25 for a literal %"
  end
end

-- The route's segments and whether it ends in *; raises for a path no request can match.
local function parse(path)
  local problem, fix = unreachable_char(path)
  if problem then mistake.raise("hub.route", problem, fix) end
  local segs, seen, splat = segments(path), {}, false
  for i, seg in ipairs(segs) do
    if seg == "*" then
      if i < #segs then
        mistake.raise("hub.route", ("%q has * before its end"):format(path),
          "* takes the rest of the path, so it can only be the last segment: /static/*")
      end
      splat = true
    elseif seg:sub(1, 1) == ":" then
      local name = seg:sub(2)
      if not name:find("^[%a_][%w_]*$") then
        mistake.raise("hub.route", ("%q has a parameter named %q"):format(path, name),
          "name it like a Lua identifier: /items/:id")
      end
      if seen[name] then
        mistake.raise("hub.route", ("%q has the parameter :%s twice"):format(path, name),
          "give each parameter its own name: /users/:user/posts/:post")
      end
      seen[name] = true
      segs[i] = { param = name }
    else
      segs[i] = { literal = seg }
    end
  end
  if splat then segs[#segs] = nil end
  return segs, splat, next(seen) ~= nil
end

-- Registers fn for method and path; the same method and path again replaces the function
-- (a pattern keeps its place in the order).
function M.add(method, path, fn)
  local segs, splat, has_params = parse(path)
  local t = by_method[method]
  if not t then t = { exact = {}, patterns = {} }; by_method[method] = t end
  local route = { method = method, path = path, fn = fn, segs = segs, splat = splat,
                  at = mistake.location("hub.route") }
  if not splat and not has_params then t.exact[path] = route; return end
  for i, r in ipairs(t.patterns) do
    if r.path == path then t.patterns[i] = route; return end
  end
  t.patterns[#t.patterns + 1] = route
end

-- params (decoded, a table) and the splat (decoded rest, or nil) when route takes path.
local function take(route, path_segs)
  local n = #route.segs
  if #path_segs < n or (not route.splat and #path_segs > n) then return nil end
  if route.splat and #path_segs == n then return nil end   -- /static/* needs the "/" after static
  local params = {}
  for i = 1, n do
    local want, got = route.segs[i], path_segs[i]
    if want.param then
      if got == "" then return nil end
      params[want.param] = unescape(got)
    elseif want.literal ~= got then
      return nil
    end
  end
  return params, route.splat and unescape(table.concat(path_segs, "/", n + 1)) or nil
end

-- The route of method for path: route, params, splat; or nil.
function M.find(method, path)
  local t = by_method[method]
  if not t then return nil end
  local exact = t.exact[path]
  if exact then return exact, {} end
  local path_segs
  for _, route in ipairs(t.patterns) do
    path_segs = path_segs or segments(path)
    local params, splat = take(route, path_segs)
    if params then return route, params, splat end
  end
end

-- Every method path answers to, sorted, for a 405's Allow (a GET route answers HEAD too).
function M.allowed(path)
  local list = {}
  for method in pairs(by_method) do
    if M.find(method, path) then list[#list + 1] = method end
  end
  if M.find("GET", path) and not M.find("HEAD", path) then list[#list + 1] = "HEAD" end
  table.sort(list)
  return list
end

function M.any() return next(by_method) ~= nil end

-- Whether earlier takes every path later would: segment by segment, a parameter takes any
-- non-empty segment and a literal only itself; a * takes any rest of at least one segment.
local function covers(earlier, later)
  local n, m = #earlier.segs, #later.segs
  if earlier.splat then
    if m < n or (m == n and not later.splat) then return false end
  elseif later.splat or m ~= n then
    return false
  end
  for i = 1, n do
    local e, l = earlier.segs[i], later.segs[i]
    if (e.param and l.literal == "") or (not e.param and e.literal ~= l.literal) then return false end
  end
  return true
end

-- Paths the server answers before any route (core/serve.c, core/conn.c).
local function served_before_routes(route, ws_path, api_key)
  local path = route.path
  if path == ws_path then return "it is ws_path, the WebSocket upgrade path" end
  if path == "/healthz" or path == "/readyz" or path == "/metrics" then
    return "the server answers " .. path .. " itself"
  end
  local first = route.segs[1]
  if api_key and first and first.literal == "api" and (#route.segs > 1 or route.splat) then
    return "with api_key set the server answers /api/* itself"
  end
  if api_key and first and first.literal == "admin" then
    return "with api_key set the server answers /admin and /admin/* itself (the admin page)"
  end
end

-- The routes that can never match, one sentence each (empty when none).
function M.problems(ws_path, api_key)
  local problems = {}
  local function unreachable(route, why, fix)
    problems[#problems + 1] = ("hub.route %s %s (%s) can never match: %s; %s"):format(
      route.method, route.path, route.at or "?", why, fix)
  end
  for _, t in pairs(by_method) do
    local all = {}
    for _, r in pairs(t.exact) do all[#all + 1] = r end
    for _, r in ipairs(t.patterns) do all[#all + 1] = r end
    for _, r in ipairs(all) do
      local why = served_before_routes(r, ws_path, api_key)
      if why then unreachable(r, why, "use another path") end
    end
    for i, later in ipairs(t.patterns) do
      for j = 1, i - 1 do
        local earlier = t.patterns[j]
        if covers(earlier, later) then
          unreachable(later, ("%s %s (%s), registered before it, takes every path it would"):format(
            earlier.method, earlier.path, earlier.at or "?"), "register the narrower route first")
          break
        end
      end
    end
  end
  table.sort(problems)
  return problems
end

return M
