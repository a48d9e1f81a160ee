-- semaphore_acquire: take (or renew) one of N slots, each a lease that expires by itself.
-- A counting semaphore as a sorted set: member = holder, score = when its lease ends (ms).
-- Expired leases are pruned first, so a holder that died without releasing frees its
-- slot when its lease runs out; a holder renews by calling again before that.
--
-- KEYS[1]  ZSET the slots (member = holder id, score = lease end in ms)
-- ARGV[1]  holder id
-- ARGV[2]  N, how many holders at most
-- ARGV[3]  lease in milliseconds
-- ARGV[4]  now in milliseconds; "" = the server's clock (redis.call('TIME'))
-- Returns  1 taken or renewed; 0 all N slots are held by others (nothing written)
local now = tonumber(ARGV[4])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
-- the key lives as long as its longest lease: no slot set is left behind
-- (relative to `now`, so a clock given by a test means the same as the server's)
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(last[2]) - now))
return 1
