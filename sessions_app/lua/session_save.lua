-- session_save: create, update or refresh one session hash, and slide its expiry, atomically.
-- A plain HSET + PEXPIRE would bring back a session that another device revoked
-- (DEL) while this request was running; checking EXISTS first, in the same
-- script, makes "revoked" final.
--
-- KEYS[1]  the session (HASH: data, uid, ua, ip, created, seen)
-- ARGV[1]  mode: "create" (refused if the key exists: a new session key must be new),
--          "update" (refused if it does not: it was revoked or expired meanwhile),
--          "touch" (the same refusal; writes only "seen", the fields given and the TTL)
-- ARGV[2]  time to live, milliseconds (the session's expiry age)
-- ARGV[3]  now, milliseconds since the epoch (stored as "seen", and as "created" on create)
-- ARGV[4..] field, value, field, value ... to set (e.g. data, uid, ua, ip)
-- Returns  1 when written, 0 when refused
local exists = redis.call('EXISTS', KEYS[1]) == 1
if ARGV[1] == 'create' then
  if exists then return 0 end
  redis.call('HSET', KEYS[1], 'created', ARGV[3])
elseif not exists then
  return 0
end
redis.call('HSET', KEYS[1], 'seen', ARGV[3], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
