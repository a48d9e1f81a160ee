-- release_stock: give reserved units back (the order rolled back or failed).
-- Only fields that still exist are incremented: a field that expired or was
-- dropped is reloaded from the database later, which already has the truth;
-- HINCRBY on a missing field would create a wrong, too small value.
--
-- KEYS[1]  the stock hash (field = product id, value = units available)
-- ARGV[1..] pairs: product id, quantity to give back (integer > 0)
-- Returns  the number of lines given back
local released = 0
for i = 1, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    redis.call('HINCRBY', KEYS[1], ARGV[i], tonumber(ARGV[i + 1]))
    released = released + 1
  end
end
return released
