-- bloom_check: are all of an item's k bits set?  (Possibly present) or not (certainly absent).
-- flags: no-writes
--
-- KEYS[1]  the filter (STRING used as a bitmap of m bits)
-- ARGV[1..k]  the item's bit positions (0 .. m-1)
-- Returns  1 if every bit is set (possibly present), 0 at the first unset bit (certainly absent)
for i = 1, #ARGV do
  if redis.call('GETBIT', KEYS[1], ARGV[i]) == 0 then
    return 0
  end
end
return 1
