-- ratelimit_fixed_window: at most ARGV[1] units per aligned window of ARGV[2] µs.
-- The window is floor(now / period); the hash remembers which window its count
-- belongs to, so a controlled clock (ARGV[4]) works without waiting for a TTL.
-- A denied request is not counted (it consumes nothing).
--
-- KEYS[1]  hash {w = window number, n = units used in window w}; TTL = rest of the window + 1 s,
--          set by the window's first write
-- ARGV[1]  limit (units per window, integer >= 1)
-- ARGV[2]  period (µs, integer)
-- ARGV[3]  cost (units, integer >= 1)
-- ARGV[4]  now (µs since the epoch; 0 = read Redis TIME)
-- Returns  {allowed 1/0, remaining units, retry_after µs, reset µs}
-- The five ratelimit_*.lua scripts open with the same lines (arguments, then the
-- clock): a script cannot include another, and each file reads on its own.
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if now == nil or now <= 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local window = math.floor(now / period)
local state = redis.call('HMGET', KEYS[1], 'w', 'n')
local stored = tonumber(state[1])
local used = 0
if stored ~= nil and stored >= window then
  -- same window; or a clock behind the one that wrote (another server's
  -- skew, a test clock): count against the newest window, never reopen an old one
  window = stored
  used = tonumber(state[2]) or 0
end
local reset = math.max((window + 1) * period - now, 0)
if used + cost > limit then
  return {0, math.max(limit - used, 0), reset, reset}
end
used = used + cost
if stored == window and tonumber(ARGV[4]) <= 0 then
  -- the window's first write set a TTL past its end (below), by the same clock
  -- that reads TIME: it still covers this one.  One command fewer on most calls,
  -- in the AOF and to the replicas too.  A caller's clock has no such tie to
  -- Redis's expiry clock, so its writes always set the TTL.
  redis.call('HSET', KEYS[1], 'n', used)
else
  -- the count and its TTL are written by the same atomic script: no INCR-then-EXPIRE gap
  redis.call('HSET', KEYS[1], 'w', window, 'n', used)
  redis.call('PEXPIRE', KEYS[1], math.ceil(reset / 1000) + 1000)
end
return {1, limit - used, 0, reset}
