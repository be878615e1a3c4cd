import { COMMON } from './lua-common.js'

/**
 * Peek: the state of each key as the consume script reads it, with nothing charged and nothing written.
 * KEYS[1..n]: state keys. ARGV: 5 per key: algorithm (1 token bucket, 2 sliding, 3 fixed, 4 concurrency), limit,
 *   burst, window ms (lease TTL), calendar (0 none, 1 day, 2 month, 3 week, or
 *   zoned bounds 'b0,b1,b2,b3', see CONSUME_LUA).
 * Returns integers: now, then 3 per key: remaining, resetAt, window id.
 */
export const PEEK_LUA = `${COMMON}
local now = now_ms()
local out = { now }
for k = 1, #KEYS do
  local a = (k - 1) * 5
  local alg, limit, burst = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local window_ms, calendar = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5]) or zoned(ARGV[a + 5])
  local key = KEYS[k]
  local remaining, reset_at, win = limit, now, 0
  if alg == 1 then
    local tat = math.max(tonumber(redis.call('GET', key) or '0'), now)
    remaining = math.max(0, math.floor(burst - (tat - now) / (window_ms / limit) + EPSILON))
    reset_at = math.ceil(tat)
  elseif alg == 2 then
    local slot = window_ms / SLOTS
    local current = math.floor(now / slot)
    local oldest = current - SLOTS
    local fields = redis.call('HGETALL', key)
    local used, newest = 0, oldest
    for j = 1, #fields, 2 do
      local index, amount = tonumber(fields[j]), tonumber(fields[j + 1])
      if index >= oldest then
        used = used + amount
        if index > newest and amount > 0 then newest = index end
      end
    end
    remaining = math.max(0, math.floor(limit - used + EPSILON))
    if used > 0 then reset_at = math.ceil((newest + SLOTS + 1) * slot) end
    win = current
  elseif alg == 3 then
    local start, finish = bounds(window_ms, calendar, now)
    local stored = redis.call('HMGET', key, 's', 'c')
    local used = 0
    if tonumber(stored[1]) == start then used = tonumber(stored[2]) or 0 end
    remaining = math.max(0, limit - used)
    if used > 0 then reset_at = finish end
    win = start
  else
    local held = redis.call('ZCOUNT', key, '(' .. now, '+inf')
    remaining = math.max(0, limit - held)
    local latest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    if latest[2] and held > 0 then reset_at = math.max(now, tonumber(latest[2])) end
  end
  out[#out + 1] = remaining
  out[#out + 1] = reset_at
  out[#out + 1] = win
end
return out
`

/**
 * Add: the operator's exact correction of each key's current window (a support credit, a penalty), atomically.
 * KEYS[1..n]: state keys. ARGV: 5 per key: algorithm (1, 2 or 3), limit, window ms, calendar, delta (store units;
 *   negative gives back, never below zero). Token bucket moves its arrival time; a sliding window adds to the
 *   current sub-window and takes a refund from the newest sub-windows first; a fixed window changes its count.
 * Returns 1.
 */
export const ADD_LUA = `${COMMON}
local now = now_ms()
for k = 1, #KEYS do
  local a = (k - 1) * 5
  local alg, limit, window_ms = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local calendar, delta = tonumber(ARGV[a + 4]) or zoned(ARGV[a + 4]), tonumber(ARGV[a + 5])
  local key = KEYS[k]
  if alg == 1 then
    local tat = math.max(tonumber(redis.call('GET', key) or '0'), now)
    tat = math.max(now, tat + delta * window_ms / limit)
    redis.call('SET', key, string.format('%.6f', tat), 'PX', math.max(1, math.ceil(tat - now)) + MARGIN)
  elseif alg == 2 then
    local slot = window_ms / SLOTS
    local current = math.floor(now / slot)
    if delta > 0 then
      redis.call('HINCRBY', key, tostring(current), delta)
    else
      local left = -delta
      for index = current, current - SLOTS, -1 do
        if left <= 0 then break end
        local amount = tonumber(redis.call('HGET', key, tostring(index)) or '0')
        if amount > 0 then
          local taken = math.min(amount, left)
          redis.call('HSET', key, tostring(index), amount - taken)
          left = left - taken
        end
      end
    end
    redis.call('PEXPIRE', key, math.ceil(window_ms + window_ms / SLOTS) + MARGIN)
  elseif alg == 3 then
    local start, finish = bounds(window_ms, calendar, now)
    local stored = redis.call('HMGET', key, 's', 'c')
    local used = 0
    if tonumber(stored[1]) == start then used = tonumber(stored[2]) or 0 end
    redis.call('HSET', key, 's', start, 'c', math.max(0, used + delta))
    redis.call('PEXPIRE', key, math.max(1, finish - now) + MARGIN)
  end
end
return 1
`

/**
 * Read controls: the operator's records of identities in one slot, with Redis time so blocks end on one clock.
 * KEYS[1..n]: control hashes. Returns now, then per key the hash's fields and values (HGETALL).
 */
export const READ_CONTROLS_LUA = `${COMMON}
local out = { now_ms() }
for k = 1, #KEYS do out[#out + 1] = redis.call('HGETALL', KEYS[k]) end
return out
`

/**
 * Write a control. KEYS[1]: the control hash. ARGV[1]: 'limit' (ARGV[2] rule, ARGV[3] store units or '' to clear),
 *   or 'block' (ARGV[2] ms, ARGV[3] status, ARGV[4] reason; ARGV[2] '' unblocks); ARGV[5]: TTL ms of the hash.
 * A block is kept as 'untilMs|status|reason' with untilMs in Redis time. Returns 1.
 */
export const WRITE_CONTROL_LUA = `${COMMON}
local key = KEYS[1]
if ARGV[1] == 'limit' then
  if ARGV[3] == '' then redis.call('HDEL', key, 'l:' .. ARGV[2])
  else redis.call('HSET', key, 'l:' .. ARGV[2], ARGV[3]) end
else
  if ARGV[2] == '' then redis.call('HDEL', key, 'b')
  else redis.call('HSET', key, 'b', (now_ms() + tonumber(ARGV[2])) .. '|' .. ARGV[3] .. '|' .. ARGV[4]) end
end
if redis.call('HLEN', key) > 0 then redis.call('PEXPIRE', key, tonumber(ARGV[5])) end
return 1
`
