-- weekly_board: build a week's board from its daily boards if it is not built yet.
-- ZUNIONSTORE ... AGGREGATE MAX keeps each player's best day; the encoded
-- scores carry their tie-break, so the earliest of equal bests still wins.
-- Once built, the submit script keeps it current (ZADD GT), so it is rebuilt
-- only after it expires or before anyone has read it.
--
-- KEYS[1]  week ZSET (destination)
-- KEYS[2..8]  the seven daily ZSETs, Monday to Sunday (missing ones count as empty)
-- ARGV[1]  week TTL (seconds)
-- Returns  1 if it was built now, 0 if it existed
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local args = {'ZUNIONSTORE', KEYS[1], #KEYS - 1}
for i = 2, #KEYS do args[#args + 1] = KEYS[i] end
args[#args + 1] = 'AGGREGATE'
args[#args + 1] = 'MAX'
if redis.call(unpack(args)) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return 1
