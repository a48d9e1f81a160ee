-- stores_nearby: the stores around a point, nearest first, with their details, in one round trip.
-- GEOSEARCH returns ids, distances and coordinates; the names live in a hash beside the geo set.
-- Two commands from the client would cost two round trips (the second needs the first's ids).
--
-- KEYS[1]  the stores' geo set (ZSET of geohashes, member = store id)
-- KEYS[2]  the stores' details (HASH field = store id, value = JSON {"name", "city"})
-- ARGV[1]  longitude of the centre, degrees (-180..180)
-- ARGV[2]  latitude of the centre, degrees (-85.05112878..85.05112878)
-- ARGV[3]  shape: "radius" or "box"
-- ARGV[4]  radius in km ("radius"), or box width in km ("box")
-- ARGV[5]  box height in km ("box"; ignored for "radius")
-- ARGV[6]  at most this many stores (COUNT)
-- Returns  false if the geo set does not exist (the caller rebuilds it from the database),
--          else a flat array: id, distance in km, longitude, latitude, details JSON, ... ascending by distance
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
-- Lua's unpack() only expands in last position, so the whole argument list is built as one table.
local args = {KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2]}
if ARGV[3] == 'box' then
  for _, v in ipairs({'BYBOX', ARGV[4], ARGV[5], 'km'}) do args[#args + 1] = v end
else
  for _, v in ipairs({'BYRADIUS', ARGV[4], 'km'}) do args[#args + 1] = v end
end
for _, v in ipairs({'ASC', 'COUNT', ARGV[6], 'WITHCOORD', 'WITHDIST'}) do args[#args + 1] = v end
local found = redis.call('GEOSEARCH', unpack(args))
local out = {}
if #found == 0 then
  return out
end
local ids = {}
for i, row in ipairs(found) do
  ids[i] = row[1]
end
local details = redis.call('HMGET', KEYS[2], unpack(ids))
for i, row in ipairs(found) do
  -- row = {id, "distance", {"lon", "lat"}}; doubles go back as strings (Lua numbers would be truncated)
  out[#out + 1] = row[1]
  out[#out + 1] = row[2]
  out[#out + 1] = row[3][1]
  out[#out + 1] = row[3][2]
  out[#out + 1] = details[i] or false
end
return out
