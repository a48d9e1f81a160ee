-- add_friends: make two players friends on a board (each set holds its owner and their friends).
-- Both sets get the TTL in the same script, and neither grows past ARGV[3] members:
-- a friends set is created on behalf of whoever calls the API, so it must expire
-- and stay bounded (a refused add changes nothing).
--
-- KEYS[1]  SET the player's friends   (lb:{<board>}:friends:<player>)
-- KEYS[2]  SET the friend's friends   (lb:{<board>}:friends:<friend>)
-- ARGV[1]  player
-- ARGV[2]  friend
-- ARGV[3]  most members a set may hold (its owner included)
-- ARGV[4]  TTL of both sets, seconds (refreshed by every add)
-- Returns  1 added (or already friends); 0 one of the sets is full (nothing written)
local limit = tonumber(ARGV[3])
local function full(key, owner, other)
  if redis.call('SISMEMBER', key, other) == 1 then return false end
  local need = 1
  if redis.call('SISMEMBER', key, owner) == 0 then need = 2 end
  return redis.call('SCARD', key) + need > limit
end
if full(KEYS[1], ARGV[1], ARGV[2]) or full(KEYS[2], ARGV[2], ARGV[1]) then
  return 0
end
redis.call('SADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
