-- Apply one chunk's changes to a partition, atomically, with a compare-and-set on the
-- applied offset and the record's write sequence: if another owner wrote since we loaded
-- (a chunk, or an idle advance, which leaves the offset as it was), nothing is written.
-- KEYS[1] record hash, KEYS[2] wakes zset, KEYS[3] outbox list
-- ARGV[1] expected applied offset (as loaded), ARGV[2] new watermark, ARGV[3] new max_ts,
-- ARGV[4] new applied offset, ARGV[5] ttl ms (0 = none), ARGV[6] account key prefix,
-- ARGV[7] n puts, ARGV[8] n deletes, ARGV[9] n wake changes, ARGV[10] n firings,
-- ARGV[11] expected write sequence (as loaded), then:
-- puts (id, blob)*, deletes id*, wakes (id, score or "")*, firings json*
-- Returns {1, new sequence, the outbox's length} or {0, stored offset, stored sequence}.
local stored = redis.call('HGET', KEYS[1], 'applied_offset')
if stored == false then stored = '-1' end
local seq = redis.call('HGET', KEYS[1], 'seq')
if seq == false then seq = '0' end
if stored ~= ARGV[1] or seq ~= ARGV[11] then
  return {0, stored, seq}
end
local prefix = ARGV[6]
local ttl = tonumber(ARGV[5])
local i = 12
for _ = 1, tonumber(ARGV[7]) do
  if ttl > 0 then
    redis.call('SET', prefix .. ARGV[i], ARGV[i + 1], 'PX', ttl)
  else
    redis.call('SET', prefix .. ARGV[i], ARGV[i + 1])
  end
  i = i + 2
end
for _ = 1, tonumber(ARGV[8]) do
  redis.call('DEL', prefix .. ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
  i = i + 1
end
for _ = 1, tonumber(ARGV[9]) do
  if ARGV[i + 1] == '' then
    redis.call('ZREM', KEYS[2], ARGV[i])
  else
    redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i])
  end
  i = i + 2
end
for _ = 1, tonumber(ARGV[10]) do
  redis.call('RPUSH', KEYS[3], ARGV[i])
  i = i + 1
end
redis.call('HSET', KEYS[1], 'watermark', ARGV[2], 'max_ts', ARGV[3], 'applied_offset', ARGV[4])
return {1, redis.call('HINCRBY', KEYS[1], 'seq', 1), redis.call('LLEN', KEYS[3])}
