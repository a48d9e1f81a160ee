-- add_friend: make two players friends on a board (each set holds its owner and their friends).
-- Everything is checked and written in one atomic step, so a refused add changes nothing:
--   * the friend must exist (have a score on the board): nobody befriends a name that never played;
--   * neither set grows past ARGV[3] members, and both get the TTL in the same script: a friends
--     set is created on behalf of whoever calls the API, so it must expire and stay bounded.
--
-- KEYS[1]  ZSET the board's best scores (who exists)    (lb:{<board>}:best)
-- KEYS[2]  SET the player's friends                      (lb:{<board>}:friends:<player>)
-- KEYS[3]  SET the friend's friends                      (lb:{<board>}:friends:<friend>)
-- ARGV[1]  player
-- ARGV[2]  friend
-- ARGV[3]  most members a set may hold (its owner included)
-- ARGV[4]  TTL of both sets, seconds (refreshed by every add)
-- Returns  1 added (or already friends); 0 the friend has no score on this board; -1 a set is full
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  return 0
end
local limit = tonumber(ARGV[3])
local function full(key, owner, other)
  if redis.call('SISMEMBER', key, other) == 1 then return false end
  local need = 1
  if redis.call('SISMEMBER', key, owner) == 0 then need = 2 end
  return redis.call('SCARD', key) + need > limit
end
if full(KEYS[2], ARGV[1], ARGV[2]) or full(KEYS[3], ARGV[2], ARGV[1]) then
  return -1
end
redis.call('SADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('EXPIRE', KEYS[3], ARGV[4])
return 1
