-- Room history in NATS JetStream: the backend lua/luahub/history.lua uses with the NATS
-- adapter (docs/lua-api.md, "History"), so any node serves a recovery of any room.
--
-- One stream per room with history: PREFIX_history_ROOM (a byte outside [A-Za-z0-9-]
-- written _XX, so no two rooms or prefixes share a name), holding the one subject
-- PREFIX.history.ROOM (ROOM as cluster channels write it). JetStream keeps the bounds
-- itself: max_msgs = size, max_age = ttl, discard old. The stream sequence is the offset
-- (one per publication, given by the server in its publish acknowledgement), and the
-- stream's creation time is the epoch: a server that lost its store makes the stream
-- again on the next use, with a new creation time, so a position of the old run is
-- unrecoverable, never misread. A publication's payload is its data after one byte, "b"
-- for binary, "t" for text.
--
-- Every call goes over the cluster's NATS connection as requests to JetStream's API
-- (core/outbound_nats.c), and waits. A publish is one request (the publish, acknowledged
-- with the sequence) once this node knows the room's stream and epoch for the current
-- connection; else one more (STREAM.CREATE, which answers with the existing stream when
-- it is there, or STREAM.UPDATE when the bounds changed). A read is STREAM.INFO (the
-- epoch and the range kept), then a direct get per publication (the stream allows them:
-- the raw message comes back, no JSON, no base64), all written at once (nats-server 2.9
-- has no batch get).
local ffi = require "ffi"
local cjson = require "cjson.safe"
local C = require "luahub.ffi"
local errors = require "luahub.errors"
local wait = require "luahub.wait"

local format, min, max, floor = string.format, math.min, math.max, math.floor

local M = {}

local API = "$JS.API.STREAM."
local DIRECT_GET = "$JS.API.DIRECT.GET."
local GETS_PER_ROUND = 256          -- direct gets written at once
local KNOWN_MAX = 10000             -- rooms whose stream this node remembers (then it forgets all)
local NO_JETSTREAM = "JetStream is not enabled on the NATS server (start nats-server with -js)"
local STREAM_NOT_FOUND, OTHER_CONFIG = 10059, 10058
local NO_RESPONDERS, NOT_FOUND = 503, 404   -- NATS statuses

-- Request vectors, reused: C copies the requests before lh_nats_request returns.
local cap, subjects_v, slens_v, data_v, lens_v = 0

-- Sends the requests (subjects[i] with payloads[i]) at once; their answers, in order (a
-- string, or a NATS status number: 503 when nothing listens), or nil, code, detail.
local function request(subjects, payloads)
  local n = #subjects
  if n > cap then
    cap = n
    subjects_v, slens_v = ffi.new("const char *[?]", n), ffi.new("size_t[?]", n)
    data_v, lens_v = ffi.new("const char *[?]", n), ffi.new("size_t[?]", n)
  end
  for i = 1, n do
    subjects_v[i - 1], slens_v[i - 1] = subjects[i], #subjects[i]
    data_v[i - 1], lens_v[i - 1] = payloads[i], #payloads[i]
  end
  local id = C.lh_nats_request(n, subjects_v, slens_v, data_v, lens_v, 0)
  if id > 0 then return wait.wait(id, "jetstream") end
  return errors.result(id)
end

-- An answer of the API as a table, or nil, code, detail for an error it reports.
local function answer(text, what)
  if text == NO_RESPONDERS then return wait.failed("jetstream", "no_jetstream", NO_JETSTREAM) end
  local doc = type(text) == "string" and cjson.decode(text)
  if type(doc) ~= "table" then
    return wait.failed("jetstream", "jetstream", what .. ": not an API answer: " .. tostring(text):sub(1, 200))
  end
  if type(doc.error) == "table" then
    return nil, "jetstream", format("%s: %s (err_code %s)", what, tostring(doc.error.description),
                                    tostring(doc.error.err_code)), doc.error.err_code
  end
  return doc
end

local function failed(code, detail)
  if code == "jetstream" then return wait.failed("jetstream", code, detail) end
  return nil, code, detail
end

local function stream_part(s)
  return (s:gsub("[^%w%-]", function(c) return format("_%02X", c:byte()) end))
end

local function subject_part(s)
  if s == "" then return "~" end
  return (s:gsub("[^%w_%-]", function(c) return format("%%%02X", c:byte()) end))
end

-- "2026-11-30T07:48:33.618544655Z" -> "20261130074833618544655": unique per creation
-- (the server's clock in nanoseconds; the fraction is only cut of trailing zeros).
local function epoch_of(created)
  return type(created) == "string" and created:gsub("%D", "") or nil
end

function M.new(prefix)
  local stream_prefix, subject_prefix = stream_part(prefix) .. "_history_", prefix .. ".history."
  local known, nknown, losses = {}, 0, nil   -- room -> { epoch, size, ttl } for this connection
  local backend = { waits = true }

  local function names(room)
    local stream = stream_prefix .. stream_part(room)
    return stream, subject_prefix .. subject_part(room)
  end

  local function config(stream, subject, size, ttl)
    return format('{"name":"%s","subjects":["%s"],"retention":"limits","max_msgs":%d,"max_age":%d,'
      .. '"storage":"file","discard":"old","num_replicas":1,"allow_direct":true}', stream, subject, size, floor(ttl * 1e9 + 0.5))
  end

  -- What the node knows holds for one connection: a server that restarted may have lost
  -- the streams.
  local function remembered(room)
    local now = C.lh_nats_losses()
    if now ~= losses then
      known, nknown, losses = {}, 0, now
    end
    return known[room]
  end

  local function remember(room, epoch, size, ttl)
    if nknown >= KNOWN_MAX then known, nknown = {}, 0 end
    if not known[room] then nknown = nknown + 1 end
    known[room] = { epoch = epoch, size = size, ttl = ttl }
    return known[room]
  end

  local function forget(room)
    if known[room] then known[room], nknown = nil, nknown - 1 end
  end

  -- The stream's info, made with the room's bounds when it is not there (its config
  -- updated to them when asked to): the epoch and what it keeps.
  local function made(room, size, ttl, update)
    local stream, subject = names(room)
    local body = config(stream, subject, size, ttl)
    local r, code, detail = request({ API .. "CREATE." .. stream }, { body })
    if not r then return nil, code, detail end
    local info, err_code
    info, code, detail, err_code = answer(r[1], "creating stream " .. stream)
    if not info and err_code == OTHER_CONFIG and update then
      r, code, detail = request({ API .. "UPDATE." .. stream }, { body })
      if not r then return nil, code, detail end
      info, code, detail = answer(r[1], "updating stream " .. stream)
    elseif not info and err_code == OTHER_CONFIG then
      r, code, detail = request({ API .. "INFO." .. stream }, { "" })
      if not r then return nil, code, detail end
      info, code, detail = answer(r[1], "stream " .. stream)
    end
    if not info then return failed(code, detail) end
    return info
  end

  local function known_stream(room, size, ttl)
    local k = remembered(room)
    if k and k.size == size and k.ttl == ttl then return k end
    local info, code, detail = made(room, size, ttl, true)
    if not info then return nil, code, detail end
    return remember(room, epoch_of(info.created), size, ttl)
  end

  function backend.append(room, data, _, binary, size, ttl)
    local _, subject = names(room)
    local payload = (binary and "b" or "t") .. data
    for _ = 1, 2 do
      local k, code, detail = known_stream(room, size, ttl)
      if not k then return nil, code, detail end
      local r
      r, code, detail = request({ subject }, { payload })
      if not r then return nil, code, detail end
      if r[1] ~= NO_RESPONDERS then
        local ack
        ack, code, detail = answer(r[1], "publishing to " .. subject)
        if not ack then return failed(code, detail) end
        if type(ack.seq) ~= "number" then
          return wait.failed("jetstream", "jetstream", "publishing to " .. subject .. ": no sequence in " .. r[1]:sub(1, 200))
        end
        return { epoch = k.epoch, offset = ack.seq }
      end
      -- The stream went away (deleted) since this node learnt its epoch: made again, with
      -- a new one. (Had another node made it again first, this node would go on with the
      -- old epoch until its connection is made again: streams are deleted with the nodes
      -- stopped.)
      forget(room)
    end
    return wait.failed("jetstream", "jetstream", "publishing to " .. subject .. ": no stream listens on it")
  end

  -- The publications at sequences from..to (oldest first), GETS_PER_ROUND requests a
  -- round trip; a sequence no longer kept (expired since the info) is left out.
  local function publications(stream, from, to)
    local list, subjects, payloads = {}, {}, {}
    local get = DIRECT_GET .. stream
    local seq = from
    while seq <= to do
      local n = min(GETS_PER_ROUND, to - seq + 1)
      for i = 1, n do
        subjects[i], payloads[i] = get, format('{"seq":%d}', seq + i - 1)
      end
      for i = n + 1, #subjects do subjects[i], payloads[i] = nil, nil end
      local r, code, detail = request(subjects, payloads)
      if not r then return nil, code, detail end
      for i = 1, n do
        local raw = r[i]
        if type(raw) == "string" then
          list[#list + 1] = { offset = seq + i - 1, data = raw:sub(2), binary = raw:sub(1, 1) == "b" or nil }
        elseif raw == NO_RESPONDERS then
          return answer(raw)
        elseif raw ~= NOT_FOUND then
          return wait.failed("jetstream", "jetstream", format("reading stream %s: NATS status %d", stream, raw))
        end
      end
      seq = seq + n
    end
    return list
  end

  function backend.read(room, since, limit, size, ttl)
    local stream = names(room)
    local r, code, detail = request({ API .. "INFO." .. stream }, { "" })
    if not r then return nil, code, detail end
    local info, err_code
    info, code, detail, err_code = answer(r[1], "stream " .. stream)
    if not info and err_code == STREAM_NOT_FOUND then
      -- as on a single node, a read makes the room's history, so a position taken
      -- before the first publication stays valid
      info, code, detail = made(room, size, ttl, false)
    end
    if not info then return failed(code, detail) end
    local epoch, state = epoch_of(info.created), info.state or {}
    local first, last = tonumber(state.first_seq) or 0, tonumber(state.last_seq) or 0
    local now = { epoch = epoch, offset = last }
    local from, to
    if since then
      if since.epoch ~= epoch or since.offset > last then return nil, "unrecoverable", now end
      if since.offset == last then return {}, now end
      from = since.offset + 1
      if from < first then return nil, "unrecoverable", now end
      to = limit > 0 and min(last, since.offset + limit) or last
    else
      if (tonumber(state.messages) or 0) == 0 then return {}, now end
      from, to = limit > 0 and max(first, last - limit + 1) or first, last
    end
    local list
    list, code, detail = publications(stream, from, to)
    if not list then return nil, code, detail end
    if since and (not list[1] or list[1].offset ~= from) then return nil, "unrecoverable", now end
    return list, now
  end

  return backend
end

return M
