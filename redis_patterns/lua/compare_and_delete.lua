-- compare_and_delete: delete a key only if it still holds the given value.
-- The release half of a lock: a holder whose lock expired and was taken by
-- someone else must not delete the new holder's lock.
--
-- KEYS[1]  the key
-- ARGV[1]  the value the caller expects (e.g. its random lock token)
-- Returns  1 if deleted, 0 if the value differed or the key was gone
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
