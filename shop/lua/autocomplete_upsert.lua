-- autocomplete_upsert: put one product's name in the index, replacing its old member (a rename), atomically.
--
-- KEYS[1]  the index (ZSET, all scores 0)
-- KEYS[2]  members (HASH field = product id, value = its member in the index)
-- ARGV[1]  product id
-- ARGV[2]  the new member ("<lowercased name>\0<id>\0<name>"), or "" to remove the product
-- Returns  1 if the index changed, 0 if not (the index does not exist yet: the next read builds it)
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old == ARGV[2] then
  return 0
end
if old then
  redis.call('ZREM', KEYS[1], old)
end
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[1], 0, ARGV[2])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
return 1
