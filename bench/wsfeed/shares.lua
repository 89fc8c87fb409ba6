-- shares.lua — where the instructions of a wsfeed run went, from its callgrind output.
--
--   luajit bench/wsfeed/shares.lua CALLGRIND_OUT MESSAGES
--
-- The run must be made with --dump-instr=yes --compress-strings=no --compress-pos=no and
-- --toggle-collect=run_glue or run_utf8 (scripts/bench-wsfeed.sh does). Prints one line: instructions per
-- message (ir_per_msg) and the percentage of them in each part:
--   track   ws_stream_track and its helpers (the glue's second reading of the headers)
--   wslay   libwslay but the two loops below (frame and message state, callbacks, the
--           shifts of its own buffer)
--   unmask  wslay_frame_recv's unmasking loop
--   utf8    UTF-8 validation: wslay's DFA loop in wslay_event_recv plus our utf8_feed
--   copy_in memcpy into wslay's 4 KiB buffer by the recv callback
--   copy_msg memcpy into the reassembly buffer (msg_append, frame_glue_append), and
--           realloc's when that buffer grows
--   rest    everything else: ws.c's callbacks, allocation, delivery, the feeding loop
--
-- libwslay exports no symbols for its loops, so they are found by offset in the library
-- file: those of Debian 12's libwslay1 1.1.1-3+b1, checked against the bytes there. With
-- another build they cannot be told apart and count as wslay (a note goes to stderr).
local path, messages = arg[1], tonumber(arg[2])
if not path or not messages or messages < 1 then
  io.stderr:write("usage: luajit shares.lua CALLGRIND_OUT MESSAGES\n")
  os.exit(2)
end

-- [first, last) library offsets of each loop, and bytes that must be at `at` (or first).
local loops = {
  wslay_frame_recv = { part = "unmask", first = 0x3e70, last = 0x3ea6,
                       bytes = "\x83\xe2\x03\x0f\xb6\x94\x13\x29\x10\x00\x00\x30\x11" },
  wslay_event_recv = { part = "utf8", first = 0x2f10, last = 0x2f64,
                       bytes = "\x0f\xb6\x34\x0f\x0f\xb6\x74\x35\x00\x8d\x94\x32\x00\x01\x00\x00",
                       at = 0x2f45 },
}

local function loops_match(lib)
  local f = io.open(lib, "rb")
  if not f then return false end
  for _, l in pairs(loops) do
    f:seek("set", l.at or l.first)
    if f:read(#l.bytes) ~= l.bytes then f:close() return false end
  end
  f:close()
  return true
end

local copy_in_callers = { recv_cb = true, frame_recv_cb = true }
-- msg_append is inlined into frame_chunk_cb; wsfeed keeps frame_glue_append out of line
local copy_msg_callers = { frame_chunk_cb = true, msg_append = true, frame_glue_append = true,
                           _int_realloc = true }
local function is_copy(fn) return fn:match("^__mem[cm][po][yv]") or fn == "memcpy" or fn == "memmove" end

local sum = { track = 0, wslay = 0, unmask = 0, utf8 = 0, copy_in = 0, copy_msg = 0, rest = 0 }
local total = 0
local ob, fn, cfn = "", "", nil
local call_cost_next = false     -- the next cost line is a call's inclusive cost
local split_wslay, checked = false, false

-- Callgrind gives addresses relative to the object's load address: library offsets.
local function part_of(addr)
  if is_copy(fn) then return nil end           -- counted at the call, by caller
  -- gcc may split a function (utf8_feed.part.0): names are matched by prefix
  if fn:match("^ws_stream_") then return "track" end
  if fn:match("^utf8_feed") then return "utf8" end
  if not ob:match("libwslay") then return "rest" end
  local l = split_wslay and loops[fn]
  if l and addr >= l.first and addr < l.last then return l.part end
  return "wslay"
end

for line in io.lines(path) do
  local key, value = line:match("^(%a+)=(.*)$")
  if key == "ob" then ob = value
  elseif key == "fn" then fn = value
  elseif key == "cfn" then cfn = value
  elseif key == "calls" then call_cost_next = true
  elseif key then -- fl, fi, fe, cob, cfi, cfl: not needed
  else
    local addr, cost = line:match("^0x(%x+) %d+ (%d+)$")
    if addr then
      cost = tonumber(cost)
      addr = tonumber(addr, 16)
      if call_cost_next then
        call_cost_next = false
        if cfn and is_copy(cfn) then
          total = total + cost
          if copy_in_callers[fn] then sum.copy_in = sum.copy_in + cost
          elseif copy_msg_callers[fn] then sum.copy_msg = sum.copy_msg + cost
          elseif ob:match("libwslay") then sum.wslay = sum.wslay + cost   -- its own buffer shifts
          else sum.rest = sum.rest + cost end
        end
        cfn = nil
      else
        if not checked and ob:match("libwslay") then
          checked = true
          split_wslay = loops_match(ob)
          if not split_wslay then
            io.stderr:write("shares: ", ob, " is not the build whose loops are known: unmask and wslay's UTF-8 count as wslay\n")
          end
        end
        local part = part_of(addr)
        if part then
          total = total + cost
          sum[part] = sum[part] + cost
        end
      end
    end
  end
end

local function pct(x) return total > 0 and 100 * x / total or 0 end
io.write(string.format("ir_per_msg=%.0f track=%.1f wslay=%.1f unmask=%.1f utf8=%.1f copy_in=%.1f copy_msg=%.1f rest=%.1f\n",
  total / messages, pct(sum.track), pct(sum.wslay), pct(sum.unmask), pct(sum.utf8),
  pct(sum.copy_in), pct(sum.copy_msg), pct(sum.rest)))
