-- debit_if_enough: check-and-set in one step: take AMOUNT from a balance only if it covers it.
-- The Lua half of the "Lua vs WATCH/MULTI/EXEC" comparison (redis_patterns/check_and_set.py):
-- the script runs atomically on the server, so there is nothing to retry.
--
-- KEYS[1]  the balance (STRING holding an integer; missing = 0)
-- ARGV[1]  the amount to take (integer, > 0)
-- Returns  {1, new_balance} when debited, {0, balance} when the balance was too low
local balance = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
if balance < amount then
  return {0, balance}
end
return {1, redis.call('DECRBY', KEYS[1], amount)}
