-- ratelimit_sliding_log: at most ARGV[1] units in any interval (now - period, now].
-- Exact: one sorted-set entry per admitted unit, scored by its time.
-- A denied request is not logged.
--
-- KEYS[1]  sorted set: member = sequence number, score = admission time (µs); TTL = period + 1 s
-- KEYS[2]  string: the sequence counter that makes members unique; same TTL (same hash tag as KEYS[1])
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
local seq = redis.call('INCRBY', KEYS[2], cost)
for i = 1, cost do
  redis.call('ZADD', KEYS[1], now, seq - cost + i)
end
local ttl = math.ceil(period / 1000) + 1000
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return {1, limit - used - cost, 0, period}
