-- Interoperability: the echo example driven by Python's `websockets` library.
local t = require "luahub.testing"
local hubs = require "support.hubs"

local PYTHON = "/usr/bin/python3"

local function python_has_websockets()
  local status = os.execute(PYTHON .. " -c 'import websockets' >/dev/null 2>&1")
  return status == 0 or status == true
end

describe("interoperability", function()
  lazy_teardown(t.cleanup)

  it("passes text, binary, fragments, ping and close with Python websockets against examples/echo", function()
    if not python_has_websockets() then
      pending(PYTHON .. " cannot import websockets (install python3-websockets)")
      return
    end
    local srv = t.start(hubs.example("echo"), { max_message_size = 1048576 })
    local script = t.repo_root() .. "/spec/interop/websockets_echo_client.py"
    local p = assert(io.popen(("%s '%s' '%s' 2>&1"):format(PYTHON, script, srv.url)))
    local output = p:read("*a")
    p:close()
    assert.truthy(output:match("RESULT ok %d+ checks"), output)
  end)
end)
