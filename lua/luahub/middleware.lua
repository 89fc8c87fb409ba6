-- Built-in middleware. A middleware is function(next) -> function(client, msg); it may
-- run code around next(client, msg), skip it, or return nil, code to report an error to
-- after_message.
local C = require "luahub.ffi"
local mistake = require "luahub.mistake"

local M = {}

-- Catches an error anywhere below, hands it to on_error and the log (with traceback),
-- and reports "handler_error"; the connection stays open.
function M.recover()
  local report = require("luahub")._report
  return function(next)
    return function(client, msg)
      local ok, r1, r2 = xpcall(next, debug.traceback, client, msg)
      if ok then return r1, r2 end
      report(client, r1)
      return nil, "handler_error"
    end
  end
end

-- One debug line per message: client, kind, size, outcome and handler time. The time is
-- read from the monotonic clock: lh_now is the loop's time, cached for the whole pass, so
-- it does not move while a handler runs.
function M.logger(level)
  local log = require("luahub").log[level or "debug"]
  return function(next)
    return function(client, msg)
      local started = C.lh_clock()
      local r1, r2 = next(client, msg)
      log("message", { client = client.id, kind = msg.kind, bytes = msg._n or #msg.data,
                       err = r2, ms = (C.lh_clock() - started) * 1000 })
      return r1, r2
    end
  end
end

-- Counts messages and handler time into hub.metrics() (and the Prometheus endpoint).
function M.metrics()
  local stats = require("luahub")._stats
  return function(next)
    return function(client, msg)
      local started = C.lh_clock()
      local r1, r2 = next(client, msg)
      stats.messages = stats.messages + 1
      if r2 then stats.errors[r2] = (stats.errors[r2] or 0) + 1 end
      stats.handler_seconds = stats.handler_seconds + (C.lh_clock() - started)
      return r1, r2
    end
  end
end

-- A token bucket per client: per_second messages a second, bursts up to burst. Over the
-- limit the message is dropped and after_message sees "rate_limited".
function M.rate_limit(per_second, burst)
  if type(per_second) ~= "number" or per_second <= 0 then
    mistake.raise("hub.middleware.rate_limit", "per_second must be a number > 0, got "
      .. mistake.describe(per_second), "hub.middleware.rate_limit(per_second, burst)")
  end
  burst = burst or per_second
  local buckets = setmetatable({}, { __mode = "k" })
  return function(next)
    return function(client, msg)
      local now = C.lh_now()
      local b = buckets[client]
      if not b then
        b = { tokens = burst, last = now }
        buckets[client] = b
      end
      b.tokens = math.min(burst, b.tokens + (now - b.last) * per_second)
      b.last = now
      if b.tokens < 1 then return nil, "rate_limited" end
      b.tokens = b.tokens - 1
      return next(client, msg)
    end
  end
end

return M
