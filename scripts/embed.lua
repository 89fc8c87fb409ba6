-- embed.lua — files compiled into the luahub binary, so it needs nothing beside itself:
-- the runtime modules (lua/luahub/*.lua, registered in package.preload by
-- core/embedded.c) and the starter project `luahub new` writes (scaffold/).
--
-- Usage: luajit scripts/embed.lua OUT.c SYMBOL BASE FILE...
-- Writes OUT.c defining `const struct embedded_file SYMBOL[]` (core/embedded.h): one
-- entry per FILE, named by its path under BASE ("luahub/init.lua", "spec/hub_spec.lua"),
-- ended by an entry whose name is NULL.
local out_path, symbol, base = arg[1], arg[2], arg[3]
if not (out_path and symbol and base and arg[4]) then
  io.stderr:write("usage: luajit scripts/embed.lua OUT.c SYMBOL BASE FILE...\n")
  os.exit(2)
end
base = base:gsub("/*$", "/")

local parts = {
  "/* Made by scripts/embed.lua from the files named below: edit those, not this. */\n",
  '#include "embedded.h"\n\n',
}
local entries = {}
for i = 4, #arg do
  local path = arg[i]
  assert(path:sub(1, #base) == base, path .. " is not under " .. base)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  -- bytes, not a string literal: no escaping rules, no limit on a literal's length
  local bytes = {}
  for k = 1, #data do bytes[k] = data:byte(k) end
  bytes[#bytes + 1] = 0   -- ends the text, for whoever reads it as a C string
  local name = ("%s_%d"):format(symbol, i - 3)
  parts[#parts + 1] = ("static const unsigned char %s[] = {\n"):format(name)
  for k = 1, #bytes, 20 do
    parts[#parts + 1] = "  " .. table.concat(bytes, ",", k, math.min(k + 19, #bytes)) .. ",\n"
  end
  parts[#parts + 1] = "};\n"
  entries[#entries + 1] = ('  { "%s", %s, %d },\n'):format(path:sub(#base + 1), name, #data)
end
parts[#parts + 1] = ("\nconst struct embedded_file %s[] = {\n"):format(symbol)
parts[#parts + 1] = table.concat(entries)
parts[#parts + 1] = "  { 0, 0, 0 },\n};\n"

local f = assert(io.open(out_path, "wb"))
f:write(table.concat(parts))
f:close()
