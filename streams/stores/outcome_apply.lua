-- Store one chunk's outcome state atomically, if the partition record is still the one that was read
-- (compare-and-set by value: a second owner after a rebalance cannot interleave).
-- KEYS[1] partition record (offsets of both topics, watermark, counts), KEYS[2] wake-up sorted set
-- ARGV[1] expected record ('' = none), ARGV[2] new record, ARGV[3] unused, ARGV[4] account key prefix,
-- ARGV[5] n puts, ARGV[6] n deletes, ARGV[7] n wakes, ARGV[8] n unwakes,
-- then puts (id, blob, ttl ms)*, deletes id*, wakes (id, score)*, unwakes id*
local current = redis.call('GET', KEYS[1])
if current == false then current = '' end
if current ~= ARGV[1] then
  return 0
end
local prefix = ARGV[4]
local i = 9
for _ = 1, tonumber(ARGV[5]) do
  local ttl = tonumber(ARGV[i + 2])
  if ttl > 0 then
    redis.call('SET', prefix .. ARGV[i], ARGV[i + 1], 'PX', ttl)
  else
    redis.call('SET', prefix .. ARGV[i], ARGV[i + 1])
  end
  i = i + 3
end
for _ = 1, tonumber(ARGV[6]) do
  redis.call('DEL', prefix .. ARGV[i])
  i = i + 1
end
for _ = 1, tonumber(ARGV[7]) do
  redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i])
  i = i + 2
end
for _ = 1, tonumber(ARGV[8]) do
  redis.call('ZREM', KEYS[2], ARGV[i])
  i = i + 1
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
