-- Accounts of a partition whose wake-up time is <= upto, with their encoded states.
-- KEYS[1] wakes zset; ARGV[1] upto (score), ARGV[2] account key prefix.
-- Returns a flat list: id, blob, id, blob, ...
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local out = {}
for _, id in ipairs(ids) do
  local blob = redis.call('GET', ARGV[2] .. id)
  if blob then
    out[#out + 1] = id
    out[#out + 1] = blob
  else
    -- the state expired (TTL): its wake-up has nothing left to fire
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
