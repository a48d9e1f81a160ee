-- cart_add: change a cart line by a delta, clamped, with the cart's TTL, in one atomic step.
-- HINCRBY alone could leave a line at 0 or below, or above the limit, until a
-- second command fixed it; a concurrent add in between would then be lost.
--
-- KEYS[1]  the visitor's cart (HASH field=product id, value=quantity)
-- ARGV[1]  product id
-- ARGV[2]  quantity delta (integer, may be negative)
-- ARGV[3]  most units of one product allowed in a cart
-- ARGV[4]  TTL of the cart, seconds (refreshed by every change)
-- Returns  the line's new quantity (0: the line was removed)
local q = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
local max = tonumber(ARGV[3])
if q <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  q = 0
elseif q > max then
  redis.call('HSET', KEYS[1], ARGV[1], max)
  q = max
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
return q
