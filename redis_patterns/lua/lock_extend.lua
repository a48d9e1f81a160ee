-- lock_extend: give the lock a new TTL only if the caller still holds it.
--
-- KEYS[1]  the lock key
-- ARGV[1]  the caller's token
-- ARGV[2]  new TTL in milliseconds (replaces the remaining time)
-- Returns  1 if extended, 0 if the lock was gone or held by another token
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
