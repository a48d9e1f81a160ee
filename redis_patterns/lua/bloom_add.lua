-- bloom_add: set an item's k bits in a bitmap bloom filter; say whether the item was new.
-- The bit positions are computed by the caller (double hashing of the item), so the script only
-- touches bits: atomic, and no two clients can both see "new" for the same item.
--
-- KEYS[1]  the filter (STRING used as a bitmap of m bits)
-- ARGV[1..k]  the item's bit positions (0 .. m-1)
-- Returns  1 if at least one bit was 0 before (the item was certainly not there), 0 if all were set
local new = 0
for i = 1, #ARGV do
  if redis.call('SETBIT', KEYS[1], ARGV[i], 1) == 0 then
    new = 1
  end
end
return new
