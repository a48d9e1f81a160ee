-- lock_release: delete the lock only if the caller still holds it.
-- A holder whose lock expired (and was taken by someone else) must not
-- delete the new holder's lock: compare the token, then delete, atomically.
--
-- KEYS[1]  the lock key
-- ARGV[1]  the caller's token
-- Returns  1 if released, 0 if the lock was gone or held by another token
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
