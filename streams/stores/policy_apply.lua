-- Store one chunk's policy state and outbox atomically, if the partition record is still
-- the one that was read (compare-and-set by value: a second owner cannot interleave).
-- KEYS[1] partition record, KEYS[2] outbox list
-- ARGV[1] expected record ('' = none), ARGV[2] new record, ARGV[3] ttl ms, ARGV[4] account key prefix,
-- ARGV[5] n puts, ARGV[6] n deletes, ARGV[7] n outbox, then puts (id, blob)*, deletes id*, outbox*
-- Returns {1, the outbox's length} or {0} (the record changed: nothing written).
local current = redis.call('GET', KEYS[1])
if current == false then current = '' end
if current ~= ARGV[1] then
  return {0}
end
local ttl = tonumber(ARGV[3])
local prefix = ARGV[4]
local i = 8
for _ = 1, tonumber(ARGV[5]) do
  if ttl > 0 then
    redis.call('SET', prefix .. ARGV[i], ARGV[i + 1], 'PX', ttl)
  else
    redis.call('SET', prefix .. ARGV[i], ARGV[i + 1])
  end
  i = i + 2
end
for _ = 1, tonumber(ARGV[6]) do
  redis.call('DEL', prefix .. ARGV[i])
  i = i + 1
end
for _ = 1, tonumber(ARGV[7]) do
  redis.call('RPUSH', KEYS[2], ARGV[i])
  i = i + 1
end
redis.call('SET', KEYS[1], ARGV[2])
return {1, redis.call('LLEN', KEYS[2])}
