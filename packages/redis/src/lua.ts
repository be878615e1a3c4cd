import { COMMON } from './lua-common.js'

/**
 * Lua shared by the adjust and undo scripts: a delta applied to one key in the window it was charged in.
 * Token bucket (1) moves its theoretical arrival time; sliding (2) and fixed (3) windows change the window that was
 * charged (a window that rolled over is left alone); a concurrency key (4) releases the lease on a negative delta.
 */
const APPLY = `
local function apply_delta(alg, key, limit, window_ms, win, delta, lease, now)
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
    redis.call('ZREM', key, lease)
  end
end
`

/**
 * Adjust: corrections in the windows they were reserved in, and lease releases.
 * KEYS[1]: the idempotency record of this adjustment; KEYS[2..n+1]: state keys.
 * ARGV[1]: lease id; ARGV[2]: idempotency TTL ms; then 5 per key: algorithm, limit, window ms,
 *   window id, delta. Deltas are applied once per record; a lease release (ZREM, idempotent in itself) is
 *   applied every time, so a release retried after its record expired still frees the lease.
 * Returns 1 when the deltas were applied now, 0 when this record had applied them before.
 */
export const ADJUST_LUA = `${COMMON}${APPLY}
local fresh = redis.call('SET', KEYS[1], '1', 'NX', 'PX', tonumber(ARGV[2]))
local now = now_ms()
for i = 1, #KEYS - 1 do
  local base = 2 + (i - 1) * 5
  local alg = tonumber(ARGV[base + 1])
  if fresh or alg == 4 then
    apply_delta(alg, KEYS[i + 1], tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4]),
      tonumber(ARGV[base + 5]), ARGV[1], now)
  end
end
if fresh then return 1 end
return 0
`

/**
 * Undo: takes back exactly what one decision charged in one slot, found by its request record (the record holds the
 * Redis time of the charge, hence each window charged), and drops the decision's pending markers.
 * KEYS[1..S]: state keys of the decision's checks in this slot; KEYS[S+1]: the identity's request-record base.
 * ARGV[1]: record TTL ms; ARGV[2]: request id (the lease id); ARGV[3]: mode, 1 compensate (undo and forget the id,
 *   so the decision may be tried again under it) or 2 void (undo and refuse the id from now on, so a copy that
 *   arrives late is never applied); ARGV[4]: S; then 5 per key: algorithm, limit, window ms, calendar, cost.
 * Returns 1 when a charge was undone, 0 when there was none (never applied, or undone before).
 */
export const UNDO_LUA = `${COMMON}${APPLY}
local now = now_ms()
local ttl, id, mode, S = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local base = KEYS[S + 1]
local bucket = math.floor(now / ttl)
local where, stamp
for b = bucket, bucket - 1, -1 do
  local value = redis.call('HGET', base .. ':' .. b, id)
  if value then
    where, stamp = base .. ':' .. b, value
    break
  end
end
local undone = 0
for k = 1, S do
  local a = 5 + (k - 1) * 5
  local alg, limit, window_ms = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local calendar, cost = tonumber(ARGV[a + 3]) or zoned(ARGV[a + 3]), tonumber(ARGV[a + 4])
  if cost > 0 then
    redis.call('ZREM', KEYS[k] .. ':pend', string.format('%d|', cost) .. id)
    if stamp and stamp ~= 'v' then
      local at = tonumber(stamp)
      local win = 0
      if alg == 2 then win = math.floor(at / (window_ms / SLOTS))
      elseif alg == 3 then win = (bounds(window_ms, calendar, at)) end
      apply_delta(alg, KEYS[k], limit, window_ms, win, -cost, id, now)
      undone = 1
    end
  end
end
if mode == 1 then
  if where then redis.call('HDEL', where, id) end
elseif where then
  redis.call('HSET', where, id, 'v')
else
  local name = base .. ':' .. bucket
  redis.call('HSET', name, id, 'v')
  if redis.call('PTTL', name) < 0 then redis.call('PEXPIREAT', name, (bucket + 2) * ttl + MARGIN) end
end
return undone
`

/**
 * Unmark: a decision admitted in every slot is final; its pending markers go.
 * KEYS[1..n]: pending-marker sets; ARGV[1..n]: the decision's member in each.
 */
export const UNMARK_LUA = `for k = 1, #KEYS do redis.call('ZREM', KEYS[k], ARGV[k]) end
return 1
`
