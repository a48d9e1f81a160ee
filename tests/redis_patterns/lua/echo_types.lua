-- echo_types: returns each Lua type the contract cares about.
-- KEYS[1]  a string key, set to ARGV[1]
-- ARGV[1]  a value
-- ARGV[2]  which reply: "int" | "string" | "table" | "nil" | "error"
-- Returns  depends on ARGV[2]
redis.call('SET', KEYS[1], ARGV[1])
local kind = ARGV[2]
if kind == 'int' then return tonumber(ARGV[1]) end
if kind == 'string' then return redis.call('GET', KEYS[1]) end
if kind == 'table' then return {KEYS[1], ARGV[1], 42} end
if kind == 'nil' then return nil end
return redis.error_reply('ERR asked for an error')
