-- autocomplete: product names starting with a prefix, the most viewed first, in one round trip.
-- The index is one sorted set with every member at score 0, so members sort by their bytes and
-- ZRANGEBYLEX [p [p\255 is exactly "every member that starts with p".  Members are
-- "<lowercased name>\0<id>\0<name>": the lowercased name drives the order, the rest is returned.
--
-- KEYS[1]  the index (ZSET, all scores 0)
-- KEYS[2]  popularity (ZSET member = product id, score = views)
-- ARGV[1]  the prefix, already lowercased (1..50 characters)
-- ARGV[2]  how many suggestions to return
-- ARGV[3]  how many matches (in name order) to rank by popularity: the candidate window
-- Returns  false if the index does not exist (the caller rebuilds it), else a flat array
--          id, name, id, name, ... most viewed first, then by name
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
local prefix = ARGV[1]
local limit = tonumber(ARGV[2])
local found = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. prefix, '[' .. prefix .. '\255', 'LIMIT', 0, tonumber(ARGV[3]))
if #found == 0 then
  return {}
end
local rows, ids = {}, {}
for i, member in ipairs(found) do
  local a = string.find(member, '\0', 1, true)
  local b = string.find(member, '\0', a + 1, true)
  local id = string.sub(member, a + 1, b - 1)
  rows[i] = {id = id, name = string.sub(member, b + 1), order = i}
  ids[i] = id
end
local scores = redis.call('ZMSCORE', KEYS[2], unpack(ids))
for i, row in ipairs(rows) do
  row.views = tonumber(scores[i]) or 0
end
table.sort(rows, function(x, y)
  if x.views ~= y.views then return x.views > y.views end
  return x.order < y.order
end)
local out = {}
for i = 1, math.min(limit, #rows) do
  out[#out + 1] = rows[i].id
  out[#out + 1] = rows[i].name
end
return out
