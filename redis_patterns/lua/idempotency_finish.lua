-- idempotency_finish: the claimant records its result, or gives the key back.
-- Compare-and-act on the token, so a claimant whose pending claim expired and
-- was taken by another request cannot overwrite that request's record.
--
-- KEYS[1]  the idempotency record (HASH)
-- ARGV[1]  the claimant's token (from idempotency_begin)
-- ARGV[2]  the result to store (e.g. an order id); "" with ARGV[3] = 0 releases the key
-- ARGV[3]  TTL of the finished record, milliseconds; 0 = release (delete the pending claim)
-- Returns  1 if recorded or released, 0 if the caller no longer owns the key
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'state') ~= 'pending' then
  return 0
end
if tonumber(ARGV[3]) == 0 then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('HSET', KEYS[1], 'state', 'done', 'result', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
