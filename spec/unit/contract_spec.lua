-- The C-Lua contract (scripts/gen_contract.lua): what the FFI declares is what the binary
-- exports, and a change to one copy of it alone fails `gen_contract.lua --check`.
local t = require "luahub.testing"

local root = t.repo_root()
local gen = dofile(root .. "/scripts/gen_contract.lua")

local function sh(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs a command: its exit status and output (stdout and stderr).
local function run(command)
  local p = assert(io.popen(command .. " 2>&1; echo \"exit:$?\""))
  local out = p:read("*a")
  p:close()
  return tonumber(out:match("exit:(%d+)%s*$")), (out:gsub("exit:%d+%s*$", ""))
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- A script for `luahub check` that looks each name up in ffi.C after luahub loaded its
-- cdef, and raises naming those the binary does not have.
local function lookup_script(names, extra_cdef)
  return ([[
local hub = require "luahub"
local ffi = require "ffi"
%s
local missing = {}
for _, name in ipairs { %s } do
  if not pcall(function() return ffi.C[name] end) then missing[#missing + 1] = name end
end
if #missing > 0 then error("not in the binary: " .. table.concat(missing, " ")) end
hub.handle(function() end)
]]):format(extra_cdef or "", "'" .. table.concat(names, "', '") .. "'")
end

describe("the C-Lua contract", function()
  local sources = gen.read_sources(root)
  lazy_teardown(t.cleanup)

  describe("the FFI and the binary", function()
    it("finds every function of the generated cdef in the running binary", function()
      local names = gen.parse_api(require("luahub.contract").cdef, "contract.cdef").functions
      assert.is_true(#names >= 50, "cdef functions: " .. #names)
      local ok, output = t.check(t.write_script(lookup_script(names)))
      assert.is_true(ok, output)
    end)

    it("fails that lookup for a declared function the binary lacks", function()
      local ok, output = t.check(t.write_script(
        lookup_script({ "lh_count", "lh_not_in_the_core" }, 'ffi.cdef "int lh_not_in_the_core(void);"')))
      assert.is_false(ok)
      assert.truthy(output:find("not in the binary: lh_not_in_the_core", 1, true), output)
    end)

    it("declares in lh_api.h every lh_ symbol the binary exports", function()
      local status, output = run("nm -D --defined-only " .. sh(t.binary()))
      assert.equal(0, status, output)
      local declared = {}
      for _, name in ipairs(sources.api.functions) do declared[name] = true end
      local exported, undeclared = 0, {}
      for name in output:gmatch("%s(lh_[%w_]+)\n") do
        exported = exported + 1
        if not declared[name] then undeclared[#undeclared + 1] = name end
      end
      assert.equal(#sources.api.functions, exported, "exported lh_ symbols")
      assert.same({}, undeclared)
    end)
  end)

  describe("gen_contract.lua --check", function()
    -- A copy of the sources and outputs in a temp dir, the shape of the repository.
    local function checkout()
      local dir = t.tmpdir()
      for _, group in ipairs { gen.sources, gen.outputs } do
        for _, rel in pairs(group) do
          assert(run("mkdir -p " .. sh(dir .. "/" .. rel:match("^(.*)/")) .. " && cp "
                     .. sh(root .. "/" .. rel) .. " " .. sh(dir .. "/" .. rel)) == 0)
        end
      end
      return dir
    end

    local function edit(dir, rel, from, to)
      local text = read(dir .. "/" .. rel)
      local s, e = text:find(from, 1, true)
      assert(s, rel .. " has no " .. from)
      t.write_file(dir .. "/" .. rel, text:sub(1, s - 1) .. to .. text:sub(e + 1))
    end

    local function check(dir)
      return run("luajit " .. sh(root .. "/scripts/gen_contract.lua") .. " --check --root " .. sh(dir))
    end

    local function stale(dir, want)
      local status, output = check(dir)
      assert.equal(1, status, output)
      for _, rel in pairs(gen.outputs) do
        local line = (want[rel] and "not ok - " or "ok - ") .. rel
        assert.truthy(output:find(line, 1, true), "missing '" .. line .. "' in:\n" .. output)
      end
    end

    it("passes on the repository's files", function()
      local status, output = check(checkout())
      assert.equal(0, status, output)
      assert.truthy(output:find("2 passed, 0 failed", 1, true), output)
    end)

    it("names both outputs when an error message changed in lh_errors.h", function()
      local dir = checkout()
      edit(dir, gen.sources.errors, "not_found: no such client", "not_found: no client by that id")
      stale(dir, { [gen.outputs.contract] = true, [gen.outputs.docs] = true })
    end)

    it("names both outputs when a default changed in config_keys.h", function()
      local dir = checkout()
      edit(dir, gen.sources.keys, "ping_interval, seconds, 54)", "ping_interval, seconds, 45)")
      stale(dir, { [gen.outputs.contract] = true, [gen.outputs.docs] = true })
    end)

    it("names contract.lua when a signature changed in lh_api.h", function()
      local dir = checkout()
      edit(dir, gen.sources.api, "int lh_is_open(uint64_t id);", "int lh_is_open(uint64_t id, int strict);")
      stale(dir, { [gen.outputs.contract] = true })
    end)

    it("names the copy that was edited by hand", function()
      local dir = checkout()
      edit(dir, gen.outputs.contract, 'path = "watch", type = "boolean", default = false',
           'path = "watch", type = "boolean", default = true')
      stale(dir, { [gen.outputs.contract] = true })
      dir = checkout()
      edit(dir, gen.outputs.docs, "| `queue_full` | `LH_ERR_QUEUE_FULL` (-3) |", "| `queue_full` | `LH_ERR_QUEUE_FULL` (-30) |")
      stale(dir, { [gen.outputs.docs] = true })
    end)

    it("passes again once the outputs are made from the changed header", function()
      local dir = checkout()
      edit(dir, gen.sources.keys, '"luahub")', '"hub")')
      local status, output = run("luajit " .. sh(root .. "/scripts/gen_contract.lua") .. " --root " .. sh(dir))
      assert.equal(0, status, output)
      assert.equal(0, (check(dir)))
      assert.truthy(read(dir .. "/" .. gen.outputs.contract):find('default = "hub"', 1, true))
      assert.truthy(read(dir .. "/" .. gen.outputs.docs):find('| `"hub"` |', 1, true))
    end)

    it("refuses a header that breaks its format, naming file and line", function()
      local cases = {
        { gen.sources.errors, "LH_ERR_CLOSED = -1,", "LH_ERR_CLOSED = -2,",
          "core/lh_errors.h:%d+: %-2 is also LH_ERR_CLOSED" },
        { gen.sources.errors, "/* user_limit: ", "/* ", "core/lh_errors.h:%d+: expected `LH_ERR_NAME" },
        { gen.sources.api, "int lh_draining(void);", "int draining(void);",
          "core/lh_api.h:%d+: draining: every function Lua calls through the FFI is named lh_%*" },
        { gen.sources.api, "#include <stdint.h>", "#include <stdint.h>\n#define LH_MAX 4",
          "core/lh_api.h:%d+: no macros: the FFI cannot see them" },
        { gen.sources.keys, '"drop_newest", drop_newest,', '"drop_all", drop_newest,',
          'core/config_keys.h:%d+: send_queue.policy: default "drop_all" is not one of its values' },
        { gen.sources.keys, "watch, boolean, false)", "watch, boolean, 0)",
          "core/config_keys.h:%d+: watch: default 0 is not a literal of its type %(a boolean, or NONE%)" },
        { gen.sources.keys, "reuse_port, boolean,", "reuse_port, flag,",
          "core/config_keys.h:%d+: reuse_port: unknown type flag" },
        { gen.sources.keys, "/* negotiate permessage-deflate (RFC 7692) */\n", "",
          "core/config_keys.h:%d+: compression: no doc comment right above the row" },
      }
      for _, c in ipairs(cases) do
        local dir = checkout()
        edit(dir, c[1], c[2], c[3])
        local status, output = check(dir)
        assert.equal(2, status, output)
        assert.truthy(output:find(c[4]), "want " .. c[4] .. " in:\n" .. output)
      end
    end)
  end)
end)
