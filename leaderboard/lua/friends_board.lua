-- friends_board: build a player's friends board: the best board restricted to their friends, and them.
-- ZINTERSTORE with the friends SET (weight 0) keeps each friend's best score as is; the player is
-- added from the best board even before they have added anyone (right after their first game the
-- friends view shows them, not an empty board).
--
-- KEYS[1]  the friends board ZSET (destination, a short-lived copy)
-- KEYS[2]  the best board ZSET
-- KEYS[3]  the player's friends SET
-- ARGV[1]  the player
-- ARGV[2]  TTL of the copy (seconds)
-- Returns  the number of players on the friends board
redis.call('ZINTERSTORE', KEYS[1], 2, KEYS[2], KEYS[3], 'WEIGHTS', 1, 0)
local own = redis.call('ZSCORE', KEYS[2], ARGV[1])
if own then
  redis.call('ZADD', KEYS[1], own, ARGV[1])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return redis.call('ZCARD', KEYS[1])
