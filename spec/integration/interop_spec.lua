-- Interoperability: the echo example driven by Python's `websockets` library.
local t = require "luahub.testing"
local hubs = require "support.hubs"
local tools = require "support.tools"

local PYTHON = tools.PYTHON

describe("interoperability", function()
  lazy_teardown(t.cleanup)

  it("passes text, binary, fragments, ping and close with Python websockets against examples/echo", function()
    tools.need_python_module("websockets", "python3-websockets")
    local srv = t.start(hubs.example("echo"), { max_message_size = 1048576 })
    local script = t.repo_root() .. "/spec/interop/websockets_echo_client.py"
    local p = assert(io.popen(("%s '%s' '%s' 2>&1"):format(PYTHON, script, srv.url)))
    local output = p:read("*a")
    p:close()
    assert.truthy(output:match("RESULT ok %d+ checks"), output)
  end)
end)
