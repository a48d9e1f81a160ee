-- cache_fill: store a freshly loaded value only if the caller still holds the lease.
-- The lease is taken (SET lease token NX PX) before the database read; a writer
-- that changes the row deletes value *and* lease after its commit.  A reader
-- whose read raced that write finds its lease gone and stores nothing, so an
-- old row can never be written back over the invalidation.
--
-- The lease is *not* released here: it runs out by its own TTL.  A reader that
-- saw the old entry (or none) just before this fill and asks for the lease just
-- after it is refused, and serves what it has or waits for this value, instead
-- of loading a second time.
--
-- KEYS[1]  the value key
-- KEYS[2]  the lease (lock) key; same {hash tag} as KEYS[1]
-- ARGV[1]  the caller's random lease token
-- ARGV[2]  the encoded value to store
-- ARGV[3]  the value's TTL in milliseconds
-- Returns  1 if stored, 0 if the lease was gone or held by another
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
