-- tags_query: combine tag sets (all-of, any-of, minus excluded), keep the result briefly, return one page.
-- The first page of a query stores the combination (SINTERSTORE or SUNIONSTORE, then SDIFFSTORE)
-- with a short TTL; the next pages read the stored set, so paging never recomputes and every page
-- of one query sees the same result (until it expires).  Sets have no order: SORT ... LIMIT pages
-- the ids numerically.
--
-- KEYS[1]  the stored result (SET, this query's key; TTL ARGV[2])
-- KEYS[2]  the index's tag names (SET): exists only once the index is built
-- KEYS[3]  every product id (SET): the base when no tag is required
-- KEYS[4..3+ARGV[3]]  the tag sets to combine
-- KEYS[4+ARGV[3]..]   the tag sets to exclude
-- ARGV[1]  mode: "all" (SINTER) or "any" (SUNION)
-- ARGV[2]  TTL of the stored result, seconds
-- ARGV[3]  how many KEYS are tag sets to combine (0: start from every product)
-- ARGV[4]  offset of the page
-- ARGV[5]  page size
-- ARGV[6..]  every tag name asked for, to check against KEYS[2]
-- Returns  false if the index is not built; {"unknown", name} for a tag the index does not have;
--          else {count, id, id, ...}: the size of the whole result, then the page's ids ascending
if redis.call('EXISTS', KEYS[2]) == 0 then
  return false
end
for i = 6, #ARGV do
  if redis.call('SISMEMBER', KEYS[2], ARGV[i]) == 0 then
    return {'unknown', ARGV[i]}
  end
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  local n = tonumber(ARGV[3])
  local include, exclude = {}, {}
  for i = 4, #KEYS do
    if i < 4 + n then include[#include + 1] = KEYS[i] else exclude[#exclude + 1] = KEYS[i] end
  end
  if n == 0 then
    include = {KEYS[3]}
  end
  if ARGV[1] == 'any' then
    redis.call('SUNIONSTORE', KEYS[1], unpack(include))
  else
    redis.call('SINTERSTORE', KEYS[1], unpack(include))
  end
  if #exclude > 0 then
    redis.call('SDIFFSTORE', KEYS[1], KEYS[1], unpack(exclude))
  end
  -- An empty result stores nothing; remember it anyway so its pages are not recomputed.
  if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('SADD', KEYS[1], '0')
  end
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
local count = redis.call('SCARD', KEYS[1])
if redis.call('SISMEMBER', KEYS[1], '0') == 1 then
  count = count - 1
end
local page = redis.call('SORT', KEYS[1], 'LIMIT', ARGV[4], ARGV[5])
local out = {count}
for _, id in ipairs(page) do
  if id ~= '0' then out[#out + 1] = id end
end
return out
