-- A user's project outside this repository: `make install` into a temporary prefix,
-- `luahub new` there, and the new project's own spec run by busted with nothing but the
-- installed binary and modules; a binary copied anywhere serves on its own.
local t = require "luahub.testing"

local quote = function(s) return "'" .. tostring(s):gsub("'", [['\'']]) .. "'" end

-- Runs a shell command; returns its output (stderr included) and exit status.
local function sh(command)
  local p = assert(io.popen("(" .. command .. ") 2>&1; echo \"exit:$?\""))
  local out = p:read("*a")
  p:close()
  return out:gsub("exit:(%d+)%s*$", ""), tonumber(out:match("exit:(%d+)%s*$"))
end

local ECHO = [[
local hub = require "luahub"
hub.handle(function(client, msg) client:send("echo:" .. msg.data) end)
]]

describe("make install, luahub new and a project outside the repository", function()
  local root = t.repo_root()
  local built = t.binary()
  local prefix, env
  lazy_teardown(t.cleanup)

  lazy_setup(function()
    -- DESTDIR and PREFIX both: the files land in DESTDIR/PREFIX
    local destdir = t.tmpdir()
    prefix = destdir .. "/opt/luahub"
    -- the nested make must not join the jobserver of the `make test` running this spec
    local out, status = sh(("env -u MAKEFLAGS -u MAKELEVEL make -C %s install BUILD=%s DESTDIR=%s PREFIX=/opt/luahub")
      :format(quote(root), quote(built:match("^(.*)/[^/]*$")), quote(destdir)))
    assert(status == 0, out)
    -- only the installed files: the prefix first on PATH and LUA_PATH, no LUAHUB_* pointing
    -- anywhere, and a working directory outside the repository
    env = ("env -u LUAHUB_LUA_DIR -u LUAHUB_BIN PATH=%s LUA_PATH=%s")
      :format(quote(prefix .. "/bin:/usr/local/bin:/usr/bin:/bin"),
              quote(prefix .. "/share/lua/5.1/?.lua;" .. prefix .. "/share/lua/5.1/?/init.lua;;"))
  end)

  it("installs the binary, the runtime modules and luahub.testing under PREFIX", function()
    for _, file in ipairs { "bin/luahub", "share/lua/5.1/luahub/init.lua", "share/lua/5.1/luahub/client.lua",
                            "share/lua/5.1/luahub/testing/init.lua", "share/lua/5.1/luahub/testing/server.lua" } do
      assert.is_true(t.file_exists(prefix .. "/" .. file), file .. " was not installed")
    end
    local out = sh(env .. [[ sh -c 'command -v luahub; luajit -e "print(package.searchpath(\"luahub.testing\", package.path))"']])
    assert.equal(prefix .. "/bin/luahub\n" .. prefix .. "/share/lua/5.1/luahub/testing/init.lua\n", out)
  end)

  it("makes a project whose spec passes with busted, run inside it", function()
    local dir = t.tmpdir()
    local out, status = sh(("cd %s && %s luahub new myapp"):format(quote(dir), env))
    assert.equal(0, status, out)
    for _, file in ipairs { "hub.lua", "spec/hub_spec.lua", ".busted", "README.md", "luahub.service" } do
      assert.is_true(t.file_exists(dir .. "/myapp/" .. file), file .. " was not written:\n" .. out)
    end
    local unit = t.read_file(dir .. "/myapp/luahub.service")
    assert.matches("ExecStart=" .. prefix:gsub("%p", "%%%0") .. "/bin/luahub [^\n]* /srv/myapp/hub.lua", unit)
    out, status = sh(("cd %s/myapp && %s busted"):format(quote(dir), env))
    assert.equal(0, status, out)
    assert.matches("4 successes / 0 failures / 0 errors / 0 pending", out)
  end)

  it("serves from a binary copied to another directory, without its modules", function()
    local elsewhere = t.tmpdir() .. "/luahub"
    assert.equal(0, select(2, sh(("cp %s %s"):format(quote(prefix .. "/bin/luahub"), quote(elsewhere)))))
    local srv = t.start(t.write_script(ECHO), nil, { binary = elsewhere, env = { LUAHUB_LUA_DIR = "" } })
    local c = assert(srv:connect())
    c:send("hi")
    assert.equal("echo:hi", c:receive())
    srv:stop()
  end)
end)

describe("$LUAHUB_LUA_DIR", function()
  lazy_teardown(t.cleanup)

  it("is where the server loads luahub from instead of its compiled-in copy", function()
    local srv = t.start(t.write_script(ECHO), nil, { env = { LUAHUB_LUA_DIR = t.tmpdir() }, expect_fail = true })
    assert.matches("module 'luahub' not found", srv:log())
  end)
end)

describe("luahub new", function()
  lazy_teardown(t.cleanup)

  local function new(dir) return sh(quote(t.binary()) .. " new " .. quote(dir)) end

  it("refuses a directory that is not empty and writes nothing there", function()
    local dir = t.tmpdir()
    t.write_file(dir .. "/hub.lua", "-- mine\n")
    local out, status = new(dir)
    assert.equal(1, status)
    assert.matches("is not empty %(it holds 'hub.lua'%); nothing was written", out)
    assert.equal("-- mine\n", t.read_file(dir .. "/hub.lua"))
    assert.is_false(t.file_exists(dir .. "/.busted"))
  end)

  it("fills an empty directory, and the hub it writes passes luahub check", function()
    local dir = t.tmpdir()
    local out, status = new(dir)
    assert.equal(0, status, out)
    local ok, output = t.check(dir .. "/hub.lua")
    assert.is_true(ok, output)
  end)
end)
