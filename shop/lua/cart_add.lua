-- cart_add: change a cart line by a delta, clamped, with the cart's TTL, in one atomic step.
-- HINCRBY alone could leave a line at 0 or below, or above the limit, until a
-- second command fixed it; a concurrent add in between would then be lost.
-- Where the server has hash-field TTL (Redis 7.4+, Valkey 9.0+) the changed line
-- also gets its own expiry, so a line left untouched goes on its own while the
-- rest of an active cart stays; the key's TTL bounds them all on every server.
--
-- KEYS[1]  the visitor's cart (HASH field=product id, value=quantity)
-- ARGV[1]  product id
-- ARGV[2]  quantity delta (integer, may be negative)
-- ARGV[3]  most units of one product allowed in a cart
-- ARGV[4]  TTL of the cart, seconds (refreshed by every change)
-- ARGV[5]  TTL of the changed line, seconds (HEXPIRE on that field); 0: none (servers without it)
-- Returns  {quantity, line_ttl}: the line's new quantity (0: the line was removed), and 1 if the
--          line got its own TTL, 0 if not (asked for none, or the server refused HEXPIRE: pcall, so a
--          script that already changed the cart never fails half-way and is never retried)
local q = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
local max = tonumber(ARGV[3])
if q <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  q = 0
elseif q > max then
  redis.call('HSET', KEYS[1], ARGV[1], max)  -- HSET clears a field's TTL: set again below
  q = max
end
local line_ttl = 0
if q > 0 and tonumber(ARGV[5] or '0') > 0 then
  local ok = redis.pcall('HEXPIRE', KEYS[1], ARGV[5], 'FIELDS', 1, ARGV[1])
  if type(ok) == 'table' and ok.err == nil then
    line_ttl = 1
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
return {q, line_ttl}
