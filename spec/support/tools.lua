-- The programs some specs drive besides luahub: brokers, Prometheus, Python's websockets.
-- scripts/deps.sh test installs every one of them, so a spec that finds one missing
-- fails, saying how to install it, instead of marking itself pending: a pending spec
-- would let a run that tested less pass. (pending() is left for what deps.sh cannot
-- give, such as a low file-descriptor limit; see docs/testing.md.)
local M = {}

--- The Python the interop specs run.
M.PYTHON = "/usr/bin/python3"

local function succeeds(command)
  local status = os.execute(command .. " >/dev/null 2>&1")
  return status == 0 or status == true
end

--- Raises unless command is on PATH; package is the Debian package that provides it.
function M.need_command(command, package)
  if not succeeds("command -v " .. command) then
    error(("%s is not installed (scripts/deps.sh test installs the %s package)"):format(command, package), 2)
  end
end

--- Raises unless M.PYTHON can import module; package is the Debian package providing it.
function M.need_python_module(module, package)
  if not succeeds(M.PYTHON .. " -c 'import " .. module .. "'") then
    error(("%s cannot import %s (scripts/deps.sh test installs the %s package)"):format(
      M.PYTHON, module, package), 2)
  end
end

return M
