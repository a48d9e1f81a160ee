-- claim_batch: move the pending write-behind counters aside, atomically.
-- RENAME is atomic: an increment lands either in the batch being claimed or in
-- a fresh pending hash, never in both and never in neither.  The batch is
-- registered in a sorted set (score = claim time) so a flusher that dies
-- before applying it leaves something the next flush can find.
--
-- KEYS[1]  the pending hash (field = counter id, value = count)
-- KEYS[2]  the new batch key (a name the caller made unique)
-- KEYS[3]  the in-flight batches sorted set (member = batch key)
-- ARGV[1]  now, in milliseconds (the batch's score)
-- ARGV[2]  TTL of the batch key in milliseconds (a safety net, far above any lease)
-- Returns  1 if a batch was claimed, 0 if there was nothing pending
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[1], KEYS[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return 1
