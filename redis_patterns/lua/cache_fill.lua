-- cache_fill: store a freshly loaded value only if the caller still holds the lease.
-- The lease is taken (SET lease token NX PX) before the database read; a writer
-- that changes the row deletes value *and* lease after its commit.  A reader
-- whose read raced that write finds its lease gone and stores nothing, so an
-- old row can never be written back over the invalidation.
--
-- KEYS[1]  the value key
-- KEYS[2]  the lease (lock) key; same {hash tag} as KEYS[1]
-- ARGV[1]  the caller's random lease token
-- ARGV[2]  the encoded value to store
-- ARGV[3]  the value's TTL in milliseconds
-- Returns  1 if stored (and the lease released), 0 if the lease was gone or held by another
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
