-- ratelimit_sliding_log: at most ARGV[1] units in any interval (now - period, now].
-- Exact: one sorted-set entry per admitted unit, scored by its time.
-- A denied request is not logged.
--
-- KEYS[1]  sorted set: score = admission time (µs), member = a number unique in the
--          set (see below); TTL = period + 1 s
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
-- entries admitted at or before now - period have left the window
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
local used = redis.call('ZCARD', KEYS[1])
if used + cost > limit then
  -- the cost fits once the (used + cost - limit) oldest entries have left
  local need = used + cost - limit
  local oldest = redis.call('ZRANGE', KEYS[1], need - 1, need - 1, 'WITHSCORES')
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  return {0, math.max(limit - used, 0), tonumber(oldest[2]) + period - now, tonumber(newest[2]) + period - now}
end
-- Members only have to be unique among the entries in the set.  (now + used)
-- mod 2^31 is, nearly always: units admitted in the same microsecond count each
-- other (used grows by their cost), so a second unit at `now` gets the next
-- number; entries less than 35 minutes apart cannot wrap onto each other; and a
-- 31-bit member is a 4-byte integer in a listpack (the full time takes 8).  A
-- member already taken (a clock that went back, an entry at now - k admitted when
-- k more were in the window, a period over 35 minutes) makes ZADD NX add
-- nothing: try the next number.  The common case is this one ZADD.  Members are
-- passed as Lua numbers, which Redis formats exactly (a string built with `..`
-- would be rounded to 14 digits).
local member = (now + used) % 2147483648
for _ = 1, cost do
  while redis.call('ZADD', KEYS[1], 'NX', now, member) == 0 do
    member = member + 1
  end
  member = member + 1
end
redis.call('PEXPIRE', KEYS[1], math.ceil(period / 1000) + 1000)
return {1, limit - used - cost, 0, period}
