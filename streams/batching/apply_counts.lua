-- Apply one chunk of per-account counts and record the partition's applied offset, atomically.
-- KEYS[1] counts hash (account -> count), KEYS[2] applied offset of the partition
-- ARGV[1] first offset of the chunk, ARGV[2] last offset, ARGV[3] TTL in seconds (0 = none),
-- ARGV[4..] account, count, account, count, ...
-- Returns {status, applied offset}: 1 applied; 0 everything already applied (a redelivery);
-- -1 partly applied before: nothing done, the caller re-sends only offsets above the returned one.
local applied = tonumber(redis.call('GET', KEYS[2]) or '-1')
local first = tonumber(ARGV[1])
local last = tonumber(ARGV[2])
if last <= applied then
  return {0, applied}
end
if first <= applied then
  return {-1, applied}
end
for i = 4, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('SET', KEYS[2], last)
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return {1, last}
