-- hub.router(extractor): routes a message to a handler by the event name the extractor
-- picks (e.g. the JSON "type" field). Unknown events go to not_found, which by default
-- answers nothing and reports the "not_found" error to after_message.
local note = require("luahub.where").note
local mistake = require "luahub.mistake"
local string_field = require("luahub.message").string_field

local Router = {}
Router.__index = Router

local function default_not_found() return nil, "not_found" end

-- extractor: function(msg) -> event, or the name of a JSON field ("type").
local function new(extractor)
  if type(extractor) == "string" then
    local field = extractor
    -- The core reads the field from the bytes; msg:json() runs only for what it cannot
    -- vouch for, so the handler still decides whether the message is ever decoded.
    extractor = function(msg)
      local v, slow = string_field(msg, field)
      if not slow then return v end
      local d = msg:json()
      return type(d) == "table" and d[field] or nil
    end
  end
  if type(extractor) ~= "function" then
    mistake.raise("hub.router", "expected an extractor function(msg) or a JSON field name, got "
      .. mistake.describe(extractor), 'hub.router("type") routes {"type": "say", ...} to router:on("say", fn)')
  end
  return setmetatable({ extractor = extractor, routes = {}, missing = default_not_found }, Router)
end

function Router:on(event, fn)
  if event == nil or type(fn) ~= "function" then
    mistake.raise("router:on", ("expected an event name and a function(client, msg), got %s and %s"):format(
      mistake.describe(event), mistake.describe(fn)), 'router:on("say", function(client, msg) ... end)')
  end
  self.routes[event] = fn
  return self
end

function Router:not_found(fn)
  if type(fn) ~= "function" then
    mistake.raise("router:not_found", "expected a function(client, msg), got " .. mistake.describe(fn))
  end
  self.missing = fn
  return self
end

function Router:dispatch(client, msg)
  local event = self.extractor(msg)
  local fn = event ~= nil and self.routes[event] or self.missing
  note(fn)
  return fn(client, msg)
end

return new
