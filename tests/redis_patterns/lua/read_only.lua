-- read_only: GET a key without writing (may run on a replica with FCALL_RO).
-- flags: no-writes
-- KEYS[1]  the key
-- Returns  its value or nil
return redis.call('GET', KEYS[1])
