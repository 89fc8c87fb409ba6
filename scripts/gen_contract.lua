-- gen_contract.lua — the C-Lua contract, made from the C headers that define it:
--   core/lh_api.h       every function Lua calls through the FFI   -> the ffi.cdef string
--   core/lh_errors.h    enum lh_err, "/* lua_name: message */"     -> the error table
--   core/config_keys.h  CONFIG_KEY rows, a doc comment above each  -> the config schema
--   core/config.h       CONFIG_LIST_MAX                            -> the list bound
-- into lua/luahub/contract.lua and the tables between the contract:config and
-- contract:errors markers of docs/lua-api.md.
--
-- Usage: luajit scripts/gen_contract.lua [--check] [--root DIR]
--   (no option)  writes both files
--   --check      writes nothing; names each file that differs from what the headers make,
--                ends with "N passed, M failed" (a suite of scripts/test.sh), exits 1 if any
--   --root DIR   the checkout to read and write (default: the one holding this script)
-- A header that does not follow its format stops the run with file:line and exit 2.
--
-- dofile()d (spec/unit/contract_spec.lua), it returns its functions and runs nothing.
local M = {}

M.sources = { api = "core/lh_api.h", errors = "core/lh_errors.h",
              keys = "core/config_keys.h", config_h = "core/config.h" }
M.outputs = { contract = "lua/luahub/contract.lua", docs = "docs/lua-api.md" }

-- Types of config_keys.h: the kind of literal their default is, whether they take a
-- list of values, and whether they live outside struct config (no field).
local TYPES = {
  string = "string", path = "string", url = "string", node_id = "string",
  channel_prefix = "string", origins = "string", enum = "string",
  log_level = "string", log_format = "string",
  boolean = "boolean",
  count = "number", bytes = "number", positive = "number", seconds = "number", rate = "number",
  strings = "list",
  shared = "map", history_rooms = "map",
}
local HAS_VALUES = { enum = true, log_level = true, log_format = true }
local NO_FIELD = { log_level = true, log_format = true, shared = true, history_rooms = true }

local function fail(file, line, fmt, ...)
  error({ where = line and (file .. ":" .. line) or file, msg = fmt:format(...) }, 0)
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

local function line_at(text, pos)
  local _, n = text:sub(1, pos):gsub("\n", "")
  return n + 1
end

----------------------------------------------------------------------------- lh_api.h
-- The cdef is the header without its # lines and comments; every declaration must be
-- a function named lh_*, each once. A macro with a value would be lost on the FFI, so
-- the only #define taken is the include guard's.
function M.parse_api(text, file)
  local body = text:gsub("/%*.-%*/", ""):gsub("//[^\n]*", "")
  local lines = {}
  for l in (body .. "\n"):gmatch("([^\n]*)\n") do
    if l:match("^%s*#%s*define%s+[%w_]+%s+%S") or l:match("^%s*#%s*define%s+[%w_]+%(") then
      fail(file, line_at(text, text:find(l, 1, true)), "no macros: the FFI cannot see them")
    end
    if not l:match("^%s*#") then lines[#lines + 1] = (l:gsub("%s+$", "")) end
  end
  local cdef = trim(table.concat(lines, "\n"):gsub("\n\n\n+", "\n\n")) .. "\n"
  local functions, seen = {}, {}
  for decl in cdef:gmatch("[^;]+") do
    if decl:match("%S") then
      local name = decl:match("([%a_][%w_]*)%s*%(")
      local where = line_at(text, text:find(name or trim(decl), 1, true) or 1)
      if not name then fail(file, where, "not a function declaration: %s", trim(decl)) end
      if not name:match("^lh_") then
        fail(file, where, "%s: every function Lua calls through the FFI is named lh_*", name)
      end
      if seen[name] then fail(file, where, "%s declared twice", name) end
      seen[name] = true
      functions[#functions + 1] = name
    end
  end
  return { cdef = cdef, functions = functions }
end

----------------------------------------------------------------------------- lh_errors.h
-- Inside "enum lh_err { ... };" each line is LH_OK = 0 or
-- LH_ERR_NAME = -N, /* lua_name: message */
function M.parse_errors(text, file)
  local errors, names, codes = {}, {}, {}
  local inside, n = false, 0
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if l:match("^%s*enum%s+lh_err%s*{") then
      inside = true
    elseif inside and l:match("^%s*}") then
      inside = false
    elseif inside and l:match("%S") and not l:match("^%s*LH_OK%s*=%s*0%s*,") then
      local const, rc, code, message =
        l:match("^%s*(LH_ERR_[%u%d_]+)%s*=%s*(%-%d+)%s*,%s*/%*%s*([%l_][%l%d_]*):%s*(.-)%s*%*/%s*$")
      if not const then fail(file, n, "expected `LH_ERR_NAME = -N, /* lua_name: message */`") end
      rc = tonumber(rc)
      if codes[rc] then fail(file, n, "%d is also %s", rc, codes[rc]) end
      if names[code] then fail(file, n, "%s is also %d", code, names[code]) end
      if message == "" then fail(file, n, "%s has no message", const) end
      codes[rc], names[code] = const, rc
      errors[#errors + 1] = { const = const, rc = rc, code = code, message = message }
    end
  end
  if #errors == 0 then fail(file, nil, "no enum lh_err codes found") end
  return errors
end

----------------------------------------------------------------------------- config_keys.h
-- A C string literal's value; only \" and \\ are taken as escapes.
local function c_string(lit, file, line)
  local inner = lit:match('^"(.*)"$')
  if not inner or inner:gsub('\\[\\"]', ""):find('["\\]') then
    fail(file, line, "expected a string literal, got %s", lit)
  end
  return (inner:gsub('\\([\\"])', "%1"))
end

-- The arguments of a CONFIG_KEY( whose "(" is at pos: the list, and the position after ")".
local function split_args(text, pos, file, line)
  local args, start = {}, pos + 1
  pos = pos + 1
  while true do
    local c = text:sub(pos, pos)
    if c == "" then fail(file, line, "CONFIG_KEY( without its )") end
    if c == '"' then
      local d
      repeat
        pos = pos + 1
        d = text:sub(pos, pos)
        if d == "\\" then pos = pos + 1 end
        if d == "" or d == "\n" then fail(file, line, "unterminated string") end
      until d == '"'
    elseif c == "(" or c == "/" then
      fail(file, line_at(text, pos), "CONFIG_KEY arguments are literals and names only")
    elseif c == "," or c == ")" then
      args[#args + 1] = trim(text:sub(start, pos - 1))
      start = pos + 1
      if c == ")" then return args, pos + 1 end
    end
    pos = pos + 1
  end
end

local function parse_default(path, lit, ctype, file, line)
  if lit == "NONE" then return nil end
  if ctype == "number" and lit:match("^%-?%d+%.?%d*$") then return tonumber(lit) end
  if ctype == "boolean" and (lit == "true" or lit == "false") then return lit == "true" end
  if ctype == "string" and lit:sub(1, 1) == '"' then return c_string(lit, file, line) end
  fail(file, line, "%s: default %s is not a literal of its type (a %s, or NONE)", path, lit,
       (ctype == "list" or ctype == "map") and ctype .. ", so only NONE," or ctype)
end

local function parse_row(args, doc, file, line, seen)
  if #args < 4 then fail(file, line, "CONFIG_KEY(path, field, type, default, values...)") end
  local path = c_string(args[1], file, line)
  local field, ctype = args[2], args[3]
  if not path:match("^[%l_]+$") and not path:match("^[%l_]+%.[%l_]+$") then
    fail(file, line, "%s: a path is one or two snake_case names", path)
  end
  -- seen: path -> "key", section name -> "section"
  local section = path:match("^([%l_]+)%.")
  if seen[path] == "key" then fail(file, line, "%s listed twice", path) end
  if seen[path] == "section" or section and seen[section] == "key" then
    fail(file, line, "%s is both a key and a section", section or path)
  end
  seen[path] = "key"
  if section then seen[section] = "section" end
  if not TYPES[ctype] then fail(file, line, "%s: unknown type %s", path, ctype) end
  if (NO_FIELD[ctype] or false) ~= (field == "") then
    fail(file, line, "%s: %s", path, NO_FIELD[ctype] and "a " .. ctype .. " key has no field"
                                                  or "no field of struct config")
  end
  if field ~= "" and not field:match("^[%a_][%w_]*$") then fail(file, line, "%s: field %s is not a C name", path, field) end
  local row = { path = path, type = ctype,
                default = parse_default(path, args[4], TYPES[ctype], file, line) }
  if HAS_VALUES[ctype] then
    if #args < 5 then fail(file, line, "%s: a %s key lists its values", path, ctype) end
    row.values = {}
    for i = 5, #args do
      if not args[i]:match("^[%l_][%l%d_]*$") then fail(file, line, "%s: value %s is not a bare word", path, args[i]) end
      row.values[#row.values + 1] = args[i]
    end
    local found = row.default == nil
    for _, v in ipairs(row.values) do found = found or v == row.default end
    if not found then fail(file, line, "%s: default %q is not one of its values", path, row.default) end
  elseif #args > 4 then
    fail(file, line, "%s: only enum, log_level and log_format keys list values", path)
  end
  if not doc then fail(file, line, "%s: no doc comment right above the row", path) end
  row.doc = doc
  return row
end

-- The text of a comment: its lines without the leading " * ", joined by spaces.
local function comment_text(body)
  local words = {}
  for l in (body .. "\n"):gmatch("([^\n]*)\n") do
    l = trim(l:gsub("^%s*%*", ""))
    if l ~= "" then words[#words + 1] = l end
  end
  return table.concat(words, " ")
end

-- Rows in their order. The file holds comments and CONFIG_KEY rows, nothing else; a
-- comment that ends on the line before a row is that row's doc.
function M.parse_keys(text, file)
  local rows, seen = {}, {}
  local pos, doc, doc_line = 1, nil, nil
  while true do
    pos = text:find("%S", pos)
    if not pos then break end
    local line = line_at(text, pos)
    if text:sub(pos, pos + 1) == "/*" then
      local stop = text:find("*/", pos + 2, true) or fail(file, line, "unterminated comment")
      doc, doc_line = comment_text(text:sub(pos + 2, stop - 1)), line_at(text, stop)
      pos = stop + 2
    elseif text:find("^CONFIG_KEY%s*%(", pos) then
      local args
      args, pos = split_args(text, text:find("(", pos, true), file, line)
      rows[#rows + 1] = parse_row(args, doc_line == line - 1 and doc or nil, file, line, seen)
      doc = nil
    else
      fail(file, line, "expected a comment or a CONFIG_KEY row")
    end
  end
  if #rows == 0 then fail(file, nil, "no CONFIG_KEY rows") end
  return rows
end

function M.parse_list_max(text, file)
  local n = text:match("\n#define%s+CONFIG_LIST_MAX%s+(%d+)")
  if not n then fail(file, nil, "no #define CONFIG_LIST_MAX") end
  return tonumber(n)
end

-- Every source of root parsed: { api, errors, keys, list_max }.
function M.read_sources(root)
  local text = {}
  for k, rel in pairs(M.sources) do
    text[k] = read(root .. "/" .. rel) or fail(rel, nil, "cannot read")
  end
  return { api = M.parse_api(text.api, M.sources.api),
           errors = M.parse_errors(text.errors, M.sources.errors),
           keys = M.parse_keys(text.keys, M.sources.keys),
           list_max = M.parse_list_max(text.config_h, M.sources.config_h) }
end

----------------------------------------------------------------------------- outputs
local function lua_value(v)
  if type(v) == "string" then return ("%q"):format(v) end
  return tostring(v)
end

local function long_string(s)
  local eq = ""
  while s:find("]" .. eq .. "]", 1, true) do eq = eq .. "=" end
  return "[" .. eq .. "[\n" .. s .. "]" .. eq .. "]"
end

function M.contract_lua(c)
  local out = {
    "-- Generated by scripts/gen_contract.lua from core/lh_api.h, core/lh_errors.h,",
    "-- core/config_keys.h and core/config.h (CONFIG_LIST_MAX). Do not edit: change those",
    "-- and run `make`; `make test` fails while this file differs from what they make.",
    "return {",
    "  -- every C function Lua calls through the FFI, for ffi.cdef (core/lh_api.h)",
    "  cdef = " .. long_string(c.api.cdef) .. ",",
    "  -- the codes of hub operations: C value, Lua code, message (core/lh_errors.h)",
    "  errors = {",
  }
  for _, e in ipairs(c.errors) do
    out[#out + 1] = ("    { rc = %d, code = %s, message = %s },"):format(e.rc, lua_value(e.code), lua_value(e.message))
  end
  out[#out + 1] = "  },"
  out[#out + 1] = "  -- every configuration key, in order: path, type, default, values (core/config_keys.h)"
  out[#out + 1] = "  config = {"
  for _, k in ipairs(c.keys) do
    local fields = { "path = " .. lua_value(k.path), "type = " .. lua_value(k.type) }
    if k.default ~= nil then fields[#fields + 1] = "default = " .. lua_value(k.default) end
    if k.values then
      local v = {}
      for i, name in ipairs(k.values) do v[i] = lua_value(name) end
      fields[#fields + 1] = "values = { " .. table.concat(v, ", ") .. " }"
    end
    out[#out + 1] = "    { " .. table.concat(fields, ", ") .. " },"
  end
  out[#out + 1] = "  },"
  out[#out + 1] = "  -- entries of a string list (origins, subprotocols; core/config.h)"
  out[#out + 1] = "  list_max = " .. c.list_max .. ","
  out[#out + 1] = "}"
  return table.concat(out, "\n") .. "\n"
end

local function cell(s) return (s:gsub("|", "\\|")) end

local function default_cell(k)
  if k.default == nil then return (TYPES[k.type] == "list" or TYPES[k.type] == "map") and "`{}`" or "none" end
  return "`" .. lua_value(k.default) .. "`"
end

local function type_cell(k)
  if not k.values then return k.type end
  local v = {}
  for i, name in ipairs(k.values) do v[i] = '`"' .. name .. '"`' end
  return table.concat(v, ", ")
end

local function config_table(c)
  local out = { "| key | type | default | meaning |", "|---|---|---|---|" }
  for _, k in ipairs(c.keys) do
    out[#out + 1] = ("| `%s` | %s | %s | %s |"):format(k.path, cell(type_cell(k)), default_cell(k), cell(k.doc))
  end
  return out
end

local function errors_table(c)
  local out = { "| code | C | message |", "|---|---|---|" }
  for _, e in ipairs(c.errors) do
    out[#out + 1] = ("| `%s` | `%s` (%d) | %s |"):format(e.code, e.const, e.rc, cell(e.message))
  end
  return out
end

-- doc with the lines between <!-- contract:NAME ... --> and <!-- /contract:NAME --> replaced.
local function splice(doc, name, source, rows)
  local open = "<!-- contract:" .. name .. " -->"
  local close = "<!-- /contract:" .. name .. " -->"
  local s = doc:find(open, 1, true)
  local e = s and select(2, doc:find(close, s, true))
  if not e then fail(M.outputs.docs, nil, "no %s ... %s markers", open, close) end
  local block = { open, "<!-- made from " .. source .. " by scripts/gen_contract.lua: edit that, not this table -->" }
  for _, r in ipairs(rows) do block[#block + 1] = r end
  block[#block + 1] = close
  return doc:sub(1, s - 1) .. table.concat(block, "\n") .. doc:sub(e + 1)
end

function M.docs(c, doc)
  doc = splice(doc, "config", M.sources.keys, config_table(c))
  return splice(doc, "errors", M.sources.errors, errors_table(c))
end

-- Each output's path and the text the sources make of it.
function M.render(root)
  local c = M.read_sources(root)
  local doc = read(root .. "/" .. M.outputs.docs) or fail(M.outputs.docs, nil, "cannot read")
  return { { path = M.outputs.contract, text = M.contract_lua(c) },
           { path = M.outputs.docs, text = M.docs(c, doc) } }
end

local function main(argv)
  local check, root = false, nil
  local i = 1
  while argv[i] do
    if argv[i] == "--check" then check = true
    elseif argv[i] == "--root" and argv[i + 1] then root = argv[i + 1]; i = i + 1
    else io.stderr:write("usage: luajit scripts/gen_contract.lua [--check] [--root DIR]\n"); return 2 end
    i = i + 1
  end
  root = root or ((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/..")
  local ok, outputs = pcall(M.render, root)
  if not ok then
    local e = outputs
    io.stderr:write("gen_contract: ", type(e) == "table" and (e.where .. ": " .. e.msg) or tostring(e), "\n")
    return 2
  end
  local passed, failed = 0, 0
  for _, o in ipairs(outputs) do
    local file = root .. "/" .. o.path
    if check then
      if read(file) == o.text then
        passed = passed + 1
        print("ok - " .. o.path)
      else
        failed = failed + 1
        print("not ok - " .. o.path .. " differs from what the headers make (run make)")
      end
    else
      local f = assert(io.open(file, "wb"))
      f:write(o.text)
      f:close()
    end
  end
  if check then print(("%d passed, %d failed"):format(passed, failed)) end
  return failed == 0 and 0 or 1
end

if arg and arg[0] and arg[0]:match("gen_contract%.lua$") then os.exit(main(arg)) end
return M
