-- set_if_higher: store a number only if it beats the current one (an atomic
-- compare-and-set: a GET, compare, SET from the client would race).
--
-- KEYS[1]  string key holding a number (created if missing)
-- ARGV[1]  candidate value (integer)
-- ARGV[2]  TTL in milliseconds, set with the value (0 = no TTL)
-- Returns  {stored (1/0), current value after the call}
local current = tonumber(redis.call('GET', KEYS[1]))
local candidate = tonumber(ARGV[1])
if candidate == nil then
  return redis.error_reply('ERR candidate is not a number')
end
if current ~= nil and current >= candidate then
  return {0, current}
end
local ttl = tonumber(ARGV[2]) or 0
if ttl > 0 then
  redis.call('SET', KEYS[1], candidate, 'PX', ttl)
else
  redis.call('SET', KEYS[1], candidate)
end
return {1, candidate}
