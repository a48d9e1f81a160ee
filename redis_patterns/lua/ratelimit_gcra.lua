-- ratelimit_gcra: the generic cell rate algorithm (one timestamp per subject).
-- Each unit advances the "theoretical arrival time" (TAT) by T = period/limit;
-- a request is admitted when the new TAT is at most one period ahead of now,
-- so a burst of `limit` passes and then one unit every T.
-- T is often fractional (1 s / 3), so the TAT is kept as whole µs plus a
-- remainder in 1/limit µs: every comparison is exact integer arithmetic.
-- A denied request writes nothing.
--
-- KEYS[1]  hash {tat = TAT, whole µs; r = remainder in 1/limit µs}; TTL = until TAT + 1 s
-- ARGV[1]  limit (burst size and units per period, integer >= 1)
-- ARGV[2]  period (µs, integer)
-- ARGV[3]  cost (units, integer >= 1)
-- ARGV[4]  now (µs since the epoch; 0 = read Redis TIME)
-- Returns  {allowed 1/0, remaining units, retry_after µs, reset µs (until the TAT)}
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
local state = redis.call('HMGET', KEYS[1], 'tat', 'r')
local tat = tonumber(state[1])
local rem = tonumber(state[2]) or 0
if tat == nil or tat < now then
  tat, rem = now, 0
end
local budget = period * limit  -- one period, in 1/limit µs
local current = (tat - now) * limit + rem
local added = rem + cost * period
local new_tat = tat + math.floor(added / limit)
local new_rem = added % limit
local ahead = (new_tat - now) * limit + new_rem
if ahead > budget then
  local retry = new_tat - period - now + math.ceil(new_rem / limit)
  local reset = tat - now
  if rem > 0 then reset = reset + 1 end
  return {0, math.max(math.floor((budget - current) / period), 0), retry, reset}
end
redis.call('HSET', KEYS[1], 'tat', new_tat, 'r', new_rem)
local reset = new_tat - now
if new_rem > 0 then reset = reset + 1 end
redis.call('PEXPIRE', KEYS[1], math.ceil(reset / 1000) + 1000)
return {1, math.floor((budget - ahead) / period), 0, reset}
