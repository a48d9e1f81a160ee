-- lock_acquire: take the lock if it is free and issue the next fencing token,
-- in one atomic step (a SET NX then a separate INCR could hand two holders
-- tokens in the wrong order, or burn a token for a lock never held).
--
-- KEYS[1]  the lock key (string; value = the holder's random token)
-- KEYS[2]  the fencing counter (string integer; permanent by design: a fence
--          must never go backwards). Shares KEYS[1]'s {hash tag}.
-- ARGV[1]  the caller's random token
-- ARGV[2]  lock TTL in milliseconds
-- Returns  {fence, 0} when acquired (fence >= 1, strictly increasing);
--          {0, pttl} when held by someone else (pttl: its remaining ms, -1 if none)
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {redis.call('INCR', KEYS[2]), 0}
end
return {0, redis.call('PTTL', KEYS[1])}
