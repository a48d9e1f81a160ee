-- session_revoke: delete a session, but only if it belongs to the given user.
-- The owner is read from the session itself, in the same atomic step, so an
-- id from another user's list (or a guessed one) deletes nothing.
--
-- KEYS[1]  the session (HASH with field "uid")
-- ARGV[1]  the user id that must own it
-- Returns  1 when deleted, 0 when absent or someone else's
if redis.call('HGET', KEYS[1], 'uid') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
