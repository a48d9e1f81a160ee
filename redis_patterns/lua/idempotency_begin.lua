-- idempotency_begin: claim an idempotency key for one request, or report who has it.
-- The record is a hash: state (pending|done), fingerprint (hash of the request
-- body), token (random, the claimant's), result (set when done).
--
-- KEYS[1]  the idempotency record (HASH)
-- ARGV[1]  the request fingerprint (e.g. SHA-256 hex of the canonical body)
-- ARGV[2]  the claimant's random token
-- ARGV[3]  TTL of a pending claim, milliseconds (a crashed claimant frees it after this)
-- Returns  {state, result}: {"acquired", ""} the caller owns the key now;
--          {"pending", ""} another request with the same body is in flight;
--          {"done", result} it finished with this result;
--          {"mismatch", ""} the key was used with a different body.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  redis.call('HSET', KEYS[1], 'state', 'pending', 'fingerprint', ARGV[1], 'token', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'acquired', ''}
end
if redis.call('HGET', KEYS[1], 'fingerprint') ~= ARGV[1] then
  return {'mismatch', ''}
end
if state == 'done' then
  return {'done', redis.call('HGET', KEYS[1], 'result') or ''}
end
return {'pending', ''}
