-- around_me: a player's rank and the N players either side, in one call.
-- Two calls (ZREVRANK, then ZREVRANGE) cost two round trips and can disagree
-- if a score lands in between; inside a script they cannot.
-- The window is clipped at the edges (rank 1 has no one above).
-- flags: no-writes
--
-- KEYS[1]  ZSET board (highest score = rank 1)
-- ARGV[1]  player
-- ARGV[2]  N, neighbours on each side (integer >= 0)
-- Returns  nil when the player is not on the board; else
--          {rank (0-based), start rank of the window (0-based), {member, score, member, score, ...}}
local rank = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if not rank then
  return nil
end
local n = tonumber(ARGV[2])
local start = math.max(rank - n, 0)
return {rank, start, redis.call('ZREVRANGE', KEYS[1], start, rank + n, 'WITHSCORES')}
