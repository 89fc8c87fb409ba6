-- The C functions the core exports to Lua, declared once: the cdef of luahub.contract,
-- made from core/lh_api.h. Returns ffi.C; every other module calls the core through it.
local ffi = require "ffi"

ffi.cdef(require("luahub.contract").cdef)

return ffi.C
