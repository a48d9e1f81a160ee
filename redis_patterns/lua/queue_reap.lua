-- queue_reap: give the jobs of dead (or too slow) workers back to the ready list.
--
-- A worker takes a job with BLMOVE ready -> processing, then records a
-- deadline for it. Jobs whose deadline has passed are removed from the
-- processing list and pushed back on the consumer's end of the ready list
-- (so they are retried first). A job found in the processing list without a
-- deadline (its worker died between BLMOVE and recording the deadline) is
-- given one, `grace` ms from now, so it is reaped later if nobody acks it.
--
-- KEYS[1]  ready list
-- KEYS[2]  processing list
-- KEYS[3]  deadlines (sorted set: member = job, score = deadline, ms since epoch)
-- ARGV[1]  now in ms since epoch; empty = the server's clock (TIME)
-- ARGV[2]  most jobs to requeue in one call
-- ARGV[3]  grace in ms for processing jobs that have no deadline
-- ARGV[4]  how many processing entries to scan for missing deadlines
-- ARGV[5]  TTL in ms to (re)set on the keys this call wrote; 0 = none
-- Returns  {requeued, adopted}: jobs put back, and deadline-less jobs given a deadline
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local requeued = 0
local expired = redis.call('ZRANGE', KEYS[3], '-inf', now, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
for _, job in ipairs(expired) do
  redis.call('ZREM', KEYS[3], job)
  -- Only requeue what is still in processing: an ack may have raced us.
  if redis.call('LREM', KEYS[2], 1, job) > 0 then
    redis.call('RPUSH', KEYS[1], job)
    requeued = requeued + 1
  end
end
local adopted = 0
local scan = tonumber(ARGV[4]) or 0
if scan > 0 then
  for _, job in ipairs(redis.call('LRANGE', KEYS[2], 0, scan - 1)) do
    if redis.call('ZSCORE', KEYS[3], job) == false then
      redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), job)
      adopted = adopted + 1
    end
  end
end
local ttl = tonumber(ARGV[5]) or 0
if ttl > 0 then
  -- RPUSH/ZADD may have created a key that had gone: give it its TTL here, in the same script.
  if requeued > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
  if adopted > 0 then
    -- the worker died before its own PEXPIRE: the processing list may have none
    redis.call('PEXPIRE', KEYS[3], ttl)
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
end
return {requeued, adopted}
