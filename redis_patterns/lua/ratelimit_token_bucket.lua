-- ratelimit_token_bucket: a bucket of ARGV[1] tokens refilled at ARGV[1] per ARGV[2] µs.
-- Bursts of up to the capacity pass at once; the sustained rate is limit/period.
-- The level is kept in token-µs (tokens * period) so that refilling
-- (elapsed µs * limit) is integer arithmetic: no rounding at the edges.
-- A denied request takes no tokens and writes nothing.
--
-- KEYS[1]  hash {l = level in token-µs, ts = time of that level (µs)}; TTL = time to refill + 1 s
-- ARGV[1]  limit (bucket capacity and tokens per period, integer >= 1)
-- ARGV[2]  period (µs, integer)
-- ARGV[3]  cost (tokens, integer >= 1)
-- ARGV[4]  now (µs since the epoch; 0 = read Redis TIME)
-- Returns  {allowed 1/0, remaining whole tokens, retry_after µs, reset µs (until full)}
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
local capacity = limit * period
local state = redis.call('HMGET', KEYS[1], 'l', 'ts')
local level = tonumber(state[1])
local ts = tonumber(state[2])
if level == nil or ts == nil then
  level, ts = capacity, now
elseif now > ts then
  -- a clock that went backwards (another server's TIME after a failover) refills nothing
  level = math.min(capacity, level + (now - ts) * limit)
  ts = now
end
local need = cost * period
if level < need then
  return {0, math.floor(level / period), math.ceil((need - level) / limit), math.ceil((capacity - level) / limit)}
end
level = level - need
local reset = math.ceil((capacity - level) / limit)
redis.call('HSET', KEYS[1], 'l', level, 'ts', ts)
redis.call('PEXPIRE', KEYS[1], math.ceil(reset / 1000) + 1000)
return {1, math.floor(level / period), 0, reset}
