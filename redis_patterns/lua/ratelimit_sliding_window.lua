-- ratelimit_sliding_window: the sliding-window counter (two aligned windows, weighted).
-- estimate = previous_count * (time left of the current window / period) + current_count;
-- a request is admitted when estimate + cost <= limit.  Comparisons are done in
-- integers (everything multiplied by period), so the edge cases are exact.
-- A denied request is not counted.
--
-- KEYS[1]  hash {w = current window number, c = units in window w, p = units in window w-1};
--          TTL = two periods + 1 s, set by the window's first write
-- ARGV[1]  limit (units per period, integer >= 1)
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
local state = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local w = tonumber(state[1])
if w ~= nil and w > window then
  -- a clock behind the one that wrote: judge at the start of the newest window
  window = w
  now = w * period
end
local window_end = (window + 1) * period
local elapsed = now - window * period
local cur, prev = 0, 0
if w == window then
  cur = tonumber(state[2]) or 0
  prev = tonumber(state[3]) or 0
elseif w == window - 1 then
  prev = tonumber(state[2]) or 0
end
-- estimate * period, kept integral
local weighted = prev * (period - elapsed) + cur * period
local budget = limit * period
if weighted + cost * period > budget then
  local retry
  local room = limit - cost - cur
  if room >= 0 and prev > 0 then
    -- later in this window: prev * (period - e) <= room * period
    retry = math.ceil(period - room * period / prev) - elapsed
  else
    -- in the next window the current count becomes the previous one
    local wait = 0
    if cur > 0 then
      wait = math.max(0, math.ceil(period - (limit - cost) * period / cur))
    end
    retry = window_end - now + wait
  end
  local reset = window_end - now
  if cur > 0 then reset = reset + period end
  return {0, math.max(math.floor((budget - weighted) / period), 0), retry, reset}
end
cur = cur + cost
if w == window and tonumber(ARGV[4]) <= 0 then
  -- the window's first write set a TTL past the end of the next window (below), by
  -- the clock that reads TIME: it still covers this one (see ratelimit_fixed_window.lua)
  redis.call('HSET', KEYS[1], 'c', cur)
else
  redis.call('HSET', KEYS[1], 'w', window, 'c', cur, 'p', prev)
  redis.call('PEXPIRE', KEYS[1], math.ceil(2 * period / 1000) + 1000)
end
local remaining = math.floor((budget - prev * (period - elapsed) - cur * period) / period)
return {1, math.max(remaining, 0), 0, window_end - now + period}
