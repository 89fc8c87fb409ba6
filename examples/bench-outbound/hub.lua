-- The outbound case of `make bench` (scripts/bench-outbound.sh): a text message that
-- starts with a path, "/x <stamp...>", makes one hub.http.request to the bench backend
-- at that path and is answered with the status and the message, so the load generator
-- finds its stamp and counts the round trip. Any other message is echoed at once,
-- without a call: those are the unrelated clients whose latency the bench watches
-- while calls are in flight. A failed call is answered "error CODE DETAIL" without the
-- stamp, so it never counts as a round trip.
--
-- The backend's base URL comes from the environment:
--   BENCH_BACKEND=http://127.0.0.1:PORT luahub --config '{"outbound":{...}}' hub.lua
local hub = require "luahub"

assert(hub.http, "this luahub has no hub.http")
local BACKEND = os.getenv("BENCH_BACKEND")
assert(BACKEND and BACKEND:match("^http://"), "set BENCH_BACKEND=http://HOST:PORT")

hub.handle(function(client, msg)
  -- Read now: msg.data is only readable until the handler waits.
  local text = msg.data
  local path = text:match("^/%S*")
  if not path then
    return client:send(msg)
  end
  local res, code, detail = hub.http.request { url = BACKEND .. path }
  if res then
    client:send(res.status .. " " .. text)
  else
    client:send("error " .. code .. " " .. tostring(detail))
  end
end)
