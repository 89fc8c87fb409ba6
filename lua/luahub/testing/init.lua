--- luahub.testing: start a real luahub server from a busted spec and talk to it
-- with real WebSocket and HTTP clients.
--
--   local t = require "luahub.testing"
--   local srv = t.start("hub.lua", { max_message_size = 4096 })
--   local c = assert(srv:connect())
--   c:send("hi"); assert.equal("hi", c:receive())
--   t.eventually(function() return srv:log():find("hi", 1, true) end)
--   t.cleanup()                      -- in teardown: stops servers, removes temp dirs
--
-- This module only gathers the package's public functions; each job has its own
-- module (docs/testing.md): wait (poll, eventually), server (the process), client
-- (WebSocket), http, wire (frames, handshake hashing), sys (files, temp dirs), assert.
-- Everything waits by polling with a deadline; nothing sleeps a fixed time.
-- Errors: operations that talk to the network return nil, err (as ngx.socket does);
-- only programming mistakes, failed startups and eventually() raise.
-- Needs LuaJIT 2.1 (bit, ffi), luasocket and lua-cjson.
local wait = require "luahub.testing.wait"
local wire = require "luahub.testing.wire"
local sys = require "luahub.testing.sys"
local server = require "luahub.testing.server"
local assertions = require "luahub.testing.assert"

local M = {
  poll = wait.poll,
  eventually = wait.eventually,

  start = server.start,
  check = server.check,
  stop_all = server.stop_all,
  binary = server.binary,
  free_port = server.free_port,

  tmpdir = sys.tmpdir,
  write_file = sys.write_file,
  read_file = sys.read_file,
  file_exists = sys.file_exists,
  write_script = sys.write_script,
  repo_root = sys.repo_root,

  sha1 = wire.sha1,
  base64 = wire.base64,
  accept_key = wire.accept_key,
  random_bytes = wire.random_bytes,
  encode_frame = wire.encode_frame,
  close_payload = wire.close_payload,

  assert_closed_with = assertions.assert_closed_with,
}

--- stop_all(), then removes the temp dirs made by tmpdir()/write_script()/start()
-- unless LUAHUB_KEEP_TMP is set.
function M.cleanup()
  server.stop_all()
  sys.remove_temp_dirs()
end

-- Stops leftover servers when the Lua state closes (busted exits with close = true).
M._sentinel = newproxy(true)
getmetatable(M._sentinel).__gc = function() M.cleanup() end

-- t.default_timeout lives in the wait module, which every other module reads it from
-- (they cannot require this one: it requires them).
return setmetatable(M, {
  __index = function(_, key)
    if key == "default_timeout" then return wait.default_timeout end
  end,
  __newindex = function(self, key, value)
    if key == "default_timeout" then wait.default_timeout = value else rawset(self, key, value) end
  end,
})
