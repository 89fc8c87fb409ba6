#!/usr/bin/env luajit
-- Mints a token for examples/auth/hub.lua:
--   LUAHUB_AUTH_SECRET=... luajit examples/auth/mint-token.lua USER [SECONDS]
-- Prints the JWT (HS256, `sub` = USER, expiring after SECONDS, default 3600).
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local jwt = require "jwt"

local user, seconds = arg[1], tonumber(arg[2] or 3600)
local secret = os.getenv("LUAHUB_AUTH_SECRET")
if not user or not seconds then
  io.stderr:write("usage: LUAHUB_AUTH_SECRET=... luajit mint-token.lua USER [SECONDS]\n")
  os.exit(2)
end
if not secret or secret == "" then
  io.stderr:write("mint-token: set LUAHUB_AUTH_SECRET to the server's secret\n")
  os.exit(2)
end
print(jwt.sign({ sub = user, exp = os.time() + seconds }, secret))
