-- cart_merge: move every line of one cart into another, clamped, in one atomic step (at login:
-- the anonymous visitor's cart into the user's). Nothing can be added to the first cart between
-- reading it and deleting it, and the target's lines never pass the per-product limit.
--
-- KEYS[1]  the cart merged from (HASH field=product id, value=quantity); deleted
-- KEYS[2]  the cart merged into (same shape); its TTL is refreshed
-- ARGV[1]  most units of one product allowed in a cart
-- ARGV[2]  TTL of the cart, seconds
-- Returns  the number of lines moved
local lines = redis.call('HGETALL', KEYS[1])
local max = tonumber(ARGV[1])
for i = 1, #lines, 2 do
  local q = redis.call('HINCRBY', KEYS[2], lines[i], lines[i + 1])
  if q > max then
    redis.call('HSET', KEYS[2], lines[i], max)
  elseif q <= 0 then
    redis.call('HDEL', KEYS[2], lines[i])
  end
end
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
return #lines / 2
