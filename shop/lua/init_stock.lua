-- init_stock: load products' available units from the database into the stock hash.
-- HSETNX, not HSET: a field another request loaded (and maybe reserved from)
-- in the meantime is newer than our database read and must win.
--
-- KEYS[1]  the stock hash (field = product id, value = units available)
-- ARGV[1]  TTL of the hash, milliseconds
-- ARGV[2..] pairs: product id, units in stock according to the database
-- Returns  the number of fields that were missing and are now set
local set = 0
for i = 2, #ARGV, 2 do
  set = set + redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return set
