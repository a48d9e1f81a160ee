-- submit_score: record one game result on every view of a board, atomically.
-- The best, daily and weekly views keep each player's best (ZADD GT) with the
-- tie-break encoded in the score: encoded = points * 2^32 + (2^32 - 1 - seq),
-- seq being this submission's arrival number, so of two equal point totals the
-- earlier one ranks higher, and a repeat of the same points (a later seq,
-- hence a lower encoded score) never moves a player down the ties.
--
-- KEYS[1]  best    ZSET (permanent)
-- KEYS[2]  total   ZSET, plain points (permanent; ZINCRBY)
-- KEYS[3]  day     ZSET (TTL ARGV[3])
-- KEYS[4]  week    ZSET, updated only if it has been built from the dailies (TTL ARGV[4])
-- KEYS[5]  seq     STRING arrival counter (permanent)
-- ARGV[1]  player
-- ARGV[2]  points (integer, 0 .. 2^21 - 1)
-- ARGV[3]  day TTL (seconds)
-- ARGV[4]  week TTL (seconds)
-- ARGV[5]  size of the "top" whose changes are reported (10)
-- ARGV[6]  most players the permanent best and total views keep (the lowest beyond it are
--          dropped: every submission may add a player, so a permanent key needs a bound)
-- Returns  {best encoded score (string), best rank (0-based), total (string), total rank,
--           top changed: best, total, day, week (1/0 each)}
local player = ARGV[1]
local points = tonumber(ARGV[2])
local top = tonumber(ARGV[5])
local seq = redis.call('INCR', KEYS[5])
local encoded = points * 4294967296 + (4294967295 - seq)

local function keep_best(k)
  local changed = redis.call('ZADD', k, 'GT', 'CH', encoded, player)
  local rank = redis.call('ZREVRANK', k, player)
  if changed == 1 and rank < top then return 1, rank end
  return 0, rank
end

local best_top, best_rank = keep_best(KEYS[1])
local day_top = keep_best(KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
local week_top = 0
if redis.call('EXISTS', KEYS[4]) == 1 then
  week_top = keep_best(KEYS[4])
  redis.call('EXPIRE', KEYS[4], ARGV[4])
end
local total = redis.call('ZINCRBY', KEYS[2], points, player)
local keep = tonumber(ARGV[6])
for _, k in ipairs({KEYS[1], KEYS[2]}) do
  local extra = redis.call('ZCARD', k) - keep
  if extra > 0 then
    redis.call('ZREMRANGEBYRANK', k, 0, extra - 1)
    if k == KEYS[1] then best_rank = redis.call('ZREVRANK', k, player) end
  end
end
local total_rank = redis.call('ZREVRANK', KEYS[2], player)
-- A player the bound just dropped has no rank: report one past the end.
if not best_rank then best_rank = keep end
if not total_rank then total_rank = keep end
local total_top = 0
if points > 0 and total_rank < top then total_top = 1 end
local best = redis.call('ZSCORE', KEYS[1], player) or encoded
return {best, best_rank, total, total_rank, best_top, total_top, day_top, week_top}
