-- presence_heartbeat: mark a member as seen now in one or more presence rooms,
-- prune members not seen within the stale window, and count who is left.
--
-- KEYS[1..n]  presence rooms: sorted sets, member = who, score = last seen (ms)
--             (all under one {hash tag}, so one call covers them on a Cluster)
-- ARGV[1]     member (an opaque id: "user:42", a hashed session, a socket)
-- ARGV[2]     now in milliseconds; "" = the server's clock (redis.call('TIME'))
-- ARGV[3]     stale window in milliseconds: older heartbeats are pruned
-- ARGV[4]     TTL of each room in milliseconds (an abandoned room disappears)
-- Returns     {count in KEYS[1], count in KEYS[2], ...} after pruning
local now = tonumber(ARGV[2])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local stale = tonumber(ARGV[3])
local counts = {}
for i, room in ipairs(KEYS) do
  redis.call('ZADD', room, now, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', room, '-inf', '(' .. (now - stale))
  redis.call('PEXPIRE', room, ARGV[4])
  counts[i] = redis.call('ZCARD', room)
end
return counts
