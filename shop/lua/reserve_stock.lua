-- reserve_stock: reserve every line of an order at once, or nothing.
-- One hash holds the units each product still has available (field = product id),
-- so a multi-product order is one key and runs unchanged on Redis Cluster.
-- Two passes: check every line first, then take; no other command runs in
-- between, so two buyers can never both get the last unit.
--
-- KEYS[1]  the stock hash (field = product id, value = units available)
-- ARGV[1]  TTL of the hash, milliseconds (refreshed on each reservation; it is
--          rebuilt from the database when it expires)
-- ARGV[2..] pairs: product id, quantity (integer > 0)
-- Returns  {1} reserved;
--          {0, product_id, available} that product has too few units (nothing taken);
--          {-1, product_id, ...} these products are not loaded yet (nothing taken):
--          the caller loads them from the database (init_stock) and tries again
local missing = {}
for i = 2, #ARGV, 2 do
  local have = redis.call('HGET', KEYS[1], ARGV[i])
  if not have then
    missing[#missing + 1] = ARGV[i]
  elseif tonumber(have) < tonumber(ARGV[i + 1]) then
    return {0, ARGV[i], tonumber(have)}
  end
end
if #missing > 0 then
  table.insert(missing, 1, -1)
  return missing
end
for i = 2, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], -tonumber(ARGV[i + 1]))
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return {1}
