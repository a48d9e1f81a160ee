-- queue_promote_due: move delayed jobs whose run-at time has come to a ready
-- list, atomically (a client-side ZRANGEBYSCORE then ZREM + LPUSH could move
-- a job twice when two promoters race, or lose it if the client dies between).
--
-- KEYS[1]  delayed jobs (sorted set: member = job, score = run-at, ms since epoch)
-- KEYS[2]  ready list (jobs are LPUSHed; consumers take from the right)
-- ARGV[1]  now in ms since epoch; empty = the server's clock (TIME)
-- ARGV[2]  most jobs to move in one call (bounds the script's run time)
-- ARGV[3]  TTL in ms to (re)set on both keys after writing; 0 = none
-- Returns  the number of jobs moved
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local due = redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
if #due == 0 then
  return 0
end
redis.call('ZREM', KEYS[1], unpack(due))
redis.call('LPUSH', KEYS[2], unpack(due))
local ttl = tonumber(ARGV[3]) or 0
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return #due
