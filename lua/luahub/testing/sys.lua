--- luahub.testing.sys: the machine a spec runs on — files, temporary directories the
-- spec leaves behind for t.cleanup(), shell commands, the repository's location.
local M = {}

--- A string quoted for sh.
function M.shell_quote(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end

--- The content of a file, or nil when it cannot be read.
function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("*a")
  f:close()
  return data
end

--- Writes content to path (binary), raising on failure. Returns path.
function M.write_file(path, content)
  local f = assert(io.open(path, "wb"))
  assert(f:write(content))
  f:close()
  return path
end

--- True when path can be opened for reading.
function M.file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

--- Runs a shell command, its output discarded. True when it exits 0.
function M.run(command)
  local status = os.execute(command .. " >/dev/null 2>&1")
  return status == 0 or status == true
end

--- A shell command's standard output.
function M.command_output(command)
  local p = assert(io.popen(command))
  local out = p:read("*a")
  p:close()
  return out
end

local temp_dirs = {}

--- Creates a fresh temporary directory, removed by remove_temp_dirs() (kept when the
-- environment variable LUAHUB_KEEP_TMP is set, to read logs after a run).
function M.tmpdir()
  local dir = M.command_output("mktemp -d \"${TMPDIR:-/tmp}/luahub-spec.XXXXXX\""):gsub("%s+$", "")
  assert(dir ~= "", "mktemp -d failed")
  temp_dirs[#temp_dirs + 1] = dir
  return dir
end

--- Writes a hub script into a fresh temp dir and returns its path.
function M.write_script(source, name)
  return M.write_file(M.tmpdir() .. "/" .. (name or "hub.lua"), source)
end

--- Removes every directory tmpdir() made, unless LUAHUB_KEEP_TMP is set.
function M.remove_temp_dirs()
  if os.getenv("LUAHUB_KEEP_TMP") then return end
  for _, dir in ipairs(temp_dirs) do M.run("rm -rf " .. M.shell_quote(dir)) end
  temp_dirs = {}
end

--- Points link_path at target (made absolute): a symbolic link, replaced in one rename
-- when it exists, so whoever opens link_path sees the old target or the new one.
function M.link(target, link_path)
  local staged = link_path .. ".new"
  local command = ('ln -sfn "$(readlink -m %s)" %s && mv -T %s %s'):format(
    M.shell_quote(target), M.shell_quote(staged), M.shell_quote(staged), M.shell_quote(link_path))
  if not M.run(command) then error("cannot link " .. link_path .. " to " .. target, 2) end
end

local pid
--- The PID of this process: the parent of the shell io.popen starts.
function M.pid()
  pid = pid or tonumber(M.command_output("echo $PPID"))
  return pid
end

--- The root of the luahub checkout this package is loaded from (found from this file's
-- path, lua/luahub/testing/sys.lua; "." when that path is relative), or nil when it is
-- an installed copy.
function M.repo_root()
  local source = debug.getinfo(1, "S").source
  local dir = source:match("^@(.*)/lua/luahub/testing/[^/]+$")
  if not dir and source:match("^@lua/luahub/testing/") then dir = "." end
  if dir and M.file_exists(dir .. "/core/main.c") then return dir end
  return nil
end

return M
