-- Auth: every WebSocket connection must carry a signed token (JWT, HS256), checked in
-- before_connect. The token's `sub` becomes the connection's user id, so one user's
-- tabs (several connections) can be reached together with hub.to_user.
--
-- Token: `?token=JWT` on the upgrade URL (browsers cannot set headers on a WebSocket)
-- or `Authorization: Bearer JWT`. Without a valid, unexpired token: HTTP 401.
-- Secret: $LUAHUB_AUTH_SECRET. Without it the script runs in dev mode with a fixed
-- secret and serves GET /token?sub=NAME to mint tokens; never run that in production.
--
-- Messages (JSON):
--   client -> server   sync {data}        to every tab of the same user
--                      dm {to, text}      to every tab of another user (and the sender's)
--                      whoami
--   server -> client   welcome {user, name, tabs}   tabs {count}   sync {data, from}
--                      dm {from, to, text}   whoami {user, tabs}   error {code, text}
local hub = require "luahub"
local jwt = require "jwt"

local TOKEN_SECONDS = 3600
local SECRET = os.getenv("LUAHUB_AUTH_SECRET")
local DEV = SECRET == nil or SECRET == ""
if DEV then
  SECRET = "luahub-dev-secret-do-not-use-in-production"
  hub.log.warn("auth example in dev mode: fixed secret and GET /token; set LUAHUB_AUTH_SECRET")
end

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."

hub.config {
  static = HERE .. "/public",
  limits = { per_user = 5 },    -- a sixth tab of one user is refused (429)
}
hub.use(hub.middleware.recover())
hub.use(hub.middleware.rate_limit(10, 20))

----------------------------------------------------------------------------- the gate
local function bearer(req)
  local header = req.headers.authorization
  if header then return header:match("^[Bb]earer%s+(%S+)%s*$") end
  return req.params.token
end

hub.on("before_connect", function(req)
  local token = bearer(req)
  if not token or token == "" then return false, 401, "missing token" end
  local claims, err = jwt.verify(token, SECRET)
  if not claims then return false, 401, "invalid token (" .. err .. ")" end
  if type(claims.sub) ~= "string" or claims.sub == "" then return false, 401, "token has no subject" end
  if type(claims.exp) ~= "number" then return false, 401, "token has no expiry" end
  local name = type(claims.name) == "string" and claims.name or claims.sub
  return { user_id = claims.sub, meta = { name = name } }
end)

----------------------------------------------------------------------------- tabs
-- Open connections of a user. (In after_disconnect the core still lists the closing
-- connection among the user's clients, so closed ones are not counted.)
local function tab_count(user)
  local n = 0
  for _, c in ipairs(hub.user_clients(user)) do
    if not c:is_closed() then n = n + 1 end
  end
  return n
end

local function tell_tabs(user)
  hub.to_user(user, hub.json.encode { type = "tabs", count = tab_count(user) })
end

hub.on("after_connect", function(client)
  local user = client.user_id
  client:send_json { type = "welcome", user = user, name = client:get("name"), tabs = tab_count(user) }
  tell_tabs(user)
end)

hub.on("after_disconnect", function(client)
  local user = client.user_id
  if user and tab_count(user) > 0 then tell_tabs(user) end
end)

----------------------------------------------------------------------------- messages
local function fail(client, code, text)
  client:send_json { type = "error", code = code, text = text }
  return nil, code
end

local router = hub.router(function(msg)
  local data = msg:json()
  return type(data) == "table" and data.type or nil
end)

router:on("sync", function(client, msg)
  hub.to_user(client.user_id, hub.json.encode { type = "sync", from = client.id, data = msg:json().data })
  return true
end)

router:on("dm", function(client, msg)
  local data = msg:json()
  if type(data.to) ~= "string" or type(data.text) ~= "string" or data.text == "" then
    return fail(client, "bad_dm", "dm needs a user `to` and a non-empty `text`")
  end
  if tab_count(data.to) == 0 then return fail(client, "not_online", data.to .. " is not connected") end
  local frame = hub.json.encode { type = "dm", from = client.user_id, to = data.to, text = data.text }
  hub.to_user(data.to, frame)
  if data.to ~= client.user_id then hub.to_user(client.user_id, frame) end
  return true
end)

router:on("whoami", function(client)
  client:send_json { type = "whoami", user = client.user_id, tabs = tab_count(client.user_id) }
  return true
end)

router:not_found(function(client) return fail(client, "unknown_type", "unknown message type") end)

hub.handle(router)

----------------------------------------------------------------------------- dev tokens
if DEV then
  hub.route("GET", "/token", function(req)
    local sub = req.params.sub
    if type(sub) ~= "string" or not sub:find("^[%w_.@-]+$") or #sub > 64 then
      return 400, { error = "give ?sub=NAME (letters, digits, _ . @ -)" }
    end
    local token = jwt.sign({ sub = sub, name = req.params.name or sub,
                             exp = os.time() + TOKEN_SECONDS }, SECRET)
    return 200, { token = token, expires_in = TOKEN_SECONDS }, { ["Cache-Control"] = "no-store" }
  end)
end
