-- Apply one chunk's drop-off state of a partition, atomically, with a compare-and-set on the
-- drop-off unit's own applied offset and write sequence: if another owner wrote since we loaded
-- (a chunk, or an idle advance, which leaves the offset as it was), nothing is written.
-- KEYS[1] drop record hash, KEYS[2] outbox list, KEYS[2 + t] accounts hash of trigger t
-- ARGV[1] expected applied offset (as loaded), ARGV[2] new applied offset, ARGV[3] accounts ttl ms
-- (0 = none), ARGV[4] n triggers, ARGV[5] n outbox records, ARGV[6] expected write sequence, then per
-- trigger:
--   name, signed checkpoint (or "" to leave it), replace (1: the hash is rewritten whole), n puts, n deletes,
--   puts (id, json)*, deletes id*
-- then the outbox records. Returns {1, new sequence} or {0, stored offset, stored sequence}.
local stored = redis.call('HGET', KEYS[1], 'applied_offset')
if stored == false then stored = '-1' end
local seq = redis.call('HGET', KEYS[1], 'seq')
if seq == false then seq = '0' end
if stored ~= ARGV[1] or seq ~= ARGV[6] then
  return {0, stored, seq}
end
local ttl = tonumber(ARGV[3])
local i = 7
for t = 1, tonumber(ARGV[4]) do
  local accounts = KEYS[2 + t]
  local name, blob, replace = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local puts, dels = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  i = i + 5
  if replace == '1' then
    redis.call('DEL', accounts)
  end
  for _ = 1, puts do
    redis.call('HSET', accounts, ARGV[i], ARGV[i + 1])
    i = i + 2
  end
  for _ = 1, dels do
    redis.call('HDEL', accounts, ARGV[i])
    i = i + 1
  end
  if ttl > 0 and puts > 0 then
    redis.call('PEXPIRE', accounts, ttl)
  end
  if blob ~= '' then
    redis.call('HSET', KEYS[1], 'm:' .. name, blob)
  end
end
for _ = 1, tonumber(ARGV[5]) do
  redis.call('RPUSH', KEYS[2], ARGV[i])
  i = i + 1
end
redis.call('HSET', KEYS[1], 'applied_offset', ARGV[2])
return {1, redis.call('HINCRBY', KEYS[1], 'seq', 1)}
