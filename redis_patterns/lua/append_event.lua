-- append_event: append one event to a capped, expiring stream, with an id from
-- the server's microsecond clock, and say which entry came before it.
--
-- Why not XADD '*': auto ids are "<ms>-<n>" with n counting within one stream,
-- so two streams written in the same millisecond both get "<ms>-0" and a
-- client holding one "last event id" for several streams cannot tell them
-- apart.  Here the sequence part is the microsecond within the millisecond
-- (from TIME), so events written one after another on this server get
-- distinct, increasing ids whatever stream they go to.  If the clock did not
-- move past the stream's last id (same microsecond, clock stepped back), the
-- id is the last one plus one, as XADD '*' would do.
--
-- KEYS[1]  the stream (one audience's event log)
-- ARGV[1]  approximate maximum length, entries (XADD MAXLEN ~)
-- ARGV[2]  TTL in seconds, refreshed by every append (an idle log disappears)
-- ARGV[3]  event type, stored in field "type"
-- ARGV[4]  event data as JSON, stored in field "data"
-- Returns  {new entry id, id of the entry before it or "" if the stream was empty}
local t = redis.call('TIME')
local ms_text = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
local ms = tonumber(ms_text)
local seq = tonumber(t[2]) % 1000
local prev = ''
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if last[1] then
  prev = last[1][1]
  local dash = string.find(prev, '-', 1, true)
  local last_ms_text = string.sub(prev, 1, dash - 1)
  local last_ms = tonumber(last_ms_text)
  local last_seq = tonumber(string.sub(prev, dash + 1))
  if ms < last_ms or (ms == last_ms and seq <= last_seq) then
    ms_text = last_ms_text
    seq = last_seq + 1
  end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], ms_text .. '-' .. string.format('%d', seq),
                      'type', ARGV[3], 'data', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return {id, prev}
