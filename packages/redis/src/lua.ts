import { COMMON } from './lua-common.js'

/**
 * Adjust: corrections in the windows they were reserved in, and lease releases.
 * KEYS[1]: the idempotency record of this adjustment; KEYS[2..n+1]: state keys.
 * ARGV[1]: lease id; ARGV[2]: idempotency TTL ms; then 5 per key: algorithm, limit, window ms,
 *   window id, delta. Applied once per id; a repeat is a no-op.
 */
export const ADJUST_LUA = `${COMMON}
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', tonumber(ARGV[2])) == false then return 0 end
local now = now_ms()
for i = 1, #KEYS - 1 do
  local base = 2 + (i - 1) * 5
  local alg = tonumber(ARGV[base + 1])
  local limit = tonumber(ARGV[base + 2])
  local window_ms = tonumber(ARGV[base + 3])
  local win = tonumber(ARGV[base + 4])
  local delta = tonumber(ARGV[base + 5])
  local key = KEYS[i + 1]
  if alg == 1 then
    local stored = redis.call('GET', key)
    if stored then
      local tat = math.max(tonumber(stored), now)
      tat = math.max(now, tat + delta * window_ms / limit)
      redis.call('SET', key, string.format('%.6f', tat), 'PX', math.max(1, math.ceil(tat - now)) + MARGIN)
    end
  elseif alg == 2 then
    local current = tonumber(redis.call('HGET', key, tostring(win)) or 'nil')
    if current then
      redis.call('HSET', key, tostring(win), math.max(0, current + delta))
    end
  elseif alg == 3 then
    local stored = redis.call('HMGET', key, 's', 'c')
    if tonumber(stored[1]) == win then
      redis.call('HSET', key, 'c', math.max(0, (tonumber(stored[2]) or 0) + delta))
    end
  elseif delta < 0 then
    redis.call('ZREM', key, ARGV[1])
  end
end
return 1
`
