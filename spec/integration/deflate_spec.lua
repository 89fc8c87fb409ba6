-- permessage-deflate (RFC 7692) with compression = true, through Python's websockets.
local t = require "luahub.testing"
local hubs = require "support.hubs"
local tools = require "support.tools"

local PYTHON = tools.PYTHON

describe("permessage-deflate", function()
  lazy_teardown(t.cleanup)

  it("compresses echo and broadcast, shares frames across clients and refuses bad input", function()
    tools.need_python_module("websockets", "python3-websockets")
    local max = 1048576
    local echo = t.start(hubs.example("echo"), { compression = true, max_message_size = max })
    local bcast = t.start(hubs.example("broadcast"), { compression = true })
    local script = t.repo_root() .. "/spec/interop/deflate_client.py"
    local p = assert(io.popen(("%s '%s' '%s' '%s' %d 2>&1"):format(PYTHON, script, echo.url, bcast.url, max)))
    local output = p:read("*a")
    p:close()
    assert.truthy(output:match("RESULT ok %d+ checks"), output)
  end)

  it("is not negotiated when compression is off", function()
    local srv = t.start(hubs.example("echo"))
    local c = assert(srv:connect { headers = { ["Sec-WebSocket-Extensions"] = "permessage-deflate" } })
    assert.is_nil(c.headers["sec-websocket-extensions"])
  end)
end)
