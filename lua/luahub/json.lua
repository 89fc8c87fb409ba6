-- The one JSON encode path of the API (hub.json, every *_json sender, route bodies, log
-- fields): JSON as a browser expects it. lua-cjson 2.1.0 (Debian's) writes every empty
-- table as {} and every "/" as "\/", and has no setting for either, so both are done here.
local cjson = require "cjson.safe"
local raise = require("luahub.mistake").raise

local encode, decode = cjson.encode, cjson.decode
local find, gsub = string.find, string.gsub
local getmetatable, setmetatable, next, pairs, type = getmetatable, setmetatable, next, pairs, type

local M = { null = cjson.null }

-- Tables marked as arrays: an empty one encodes as [] (a non-empty one is an array anyway).
local array_mt = { __name = "luahub.json.array" }

function M.array(t)
  t = t or {}
  if type(t) ~= "table" then
    raise("hub.json.array", "got a " .. type(t), "pass a table (or nothing)")
  end
  return setmetatable(t, array_mt)
end

-- Shared, so it must stay empty.
M.empty_array = setmetatable({}, {
  __name = array_mt.__name,
  __newindex = function()
    raise("hub.json.empty_array", "is shared and stays empty",
      "make a list of your own with hub.json.array{}")
  end,
})

local function is_empty_array(v)
  local mt = getmetatable(v)
  return (mt == array_mt or v == M.empty_array) and next(v) == nil
end

-- v with every empty marked array replaced by the string token; tables that hold none are
-- kept as they are (the caller's tables are never changed). The first encode succeeded,
-- so v has no cycle.
local function substitute(v, token)
  if type(v) ~= "table" then return v end
  if is_empty_array(v) then return token end
  local copy
  for k, x in pairs(v) do
    local y = substitute(x, token)
    if y ~= x then
      copy = copy or {}
      copy[k] = y
    end
  end
  if not copy then return v end
  for k, x in pairs(v) do if copy[k] == nil then copy[k] = x end end
  return copy
end

-- A string that occurs nowhere in s: s holds every string of the value, keys too, so in
-- the second encode its quoted form can only be one of the substituted arrays.
-- (Letters, digits and _ only: it is also a pattern.)
local function token_absent_from(s)
  local n = 0
  while find(s, "luahub_empty_array_" .. n, 1, true) do n = n + 1 end
  return "luahub_empty_array_" .. n
end

-- JSON text, or nil, "bad_json", detail.
function M.encode(v)
  local s, err = encode(v)
  if not s then return nil, "bad_json", err end
  -- An empty marked array came out as {}: only then is the value walked.
  if find(s, "{}", 1, true) then
    local token = token_absent_from(s)
    local with_tokens = substitute(v, token)
    if with_tokens ~= v then s = gsub(encode(with_tokens), '"' .. token .. '"', "[]") end
  end
  -- cjson writes "/" only as \/ and "\" only as \\, so a backslash right before a "/"
  -- always starts such an escape (in "\\\/" the first match is the third character).
  if find(s, "\\/", 1, true) then s = gsub(s, "\\/", "/") end
  return s
end

-- The value, or nil, "bad_json", detail. JSON null decodes to hub.json.null.
function M.decode(s)
  local v, err = decode(s)
  if v == nil then return nil, "bad_json", err end
  return v
end

return M
