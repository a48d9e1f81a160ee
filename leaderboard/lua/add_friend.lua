-- add_friend: make two players friends, but only if the friend exists (has a score on the board).
-- The check and the two SADDs run as one step: no friend who never played gets in.
--
-- KEYS[1]  the best board ZSET (who exists)
-- KEYS[2]  the player's friends SET
-- KEYS[3]  the friend's friends SET
-- ARGV[1]  the player
-- ARGV[2]  the friend
-- Returns  1 added (or already friends), 0 the friend has no score on this board (nothing written)
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  return 0
end
redis.call('SADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[2], ARGV[1])
return 1
