-- The default script (`make run`, `build/luahub hub.lua`): the chat example with its web
-- client, examples/chat. Paths resolve from this file, not from the working directory.
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
dofile(here .. "/examples/chat/hub.lua")
