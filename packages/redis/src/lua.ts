/**
 * Lua shared by both scripts: the clock and UTC calendar windows. The clock is Redis TIME, so app
 * servers with skewed clocks still agree.
 */
const COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Days since 1970-01-01 to civil date and back (H. Hinnant's algorithms), for month windows.
local function days_to_civil(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return y, m
end

local function civil_to_days(y, m)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doy = math.floor((153 * mp + 2) / 5)
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- Window bounds of a fixed or calendar rule (calendar: 1 = day, 2 = month).
local function bounds(window_ms, calendar, now)
  local day = 86400000
  if calendar == 1 then
    local start = math.floor(now / day) * day
    return start, start + day
  elseif calendar == 2 then
    local y, m = days_to_civil(math.floor(now / day))
    local ny, nm = y, m + 1
    if nm == 13 then ny, nm = y + 1, 1 end
    return civil_to_days(y, m) * day, civil_to_days(ny, nm) * day
  end
  local start = math.floor(now / window_ms) * window_ms
  return start, start + window_ms
end

local SLOTS = 10
local EPSILON = 0.000001
local MARGIN = 1000
`

/**
 * Consume: every check of one hash slot, all-or-nothing.
 * KEYS[1]: the idempotency record of this request id; KEYS[2..n+1]: one state key per check.
 * ARGV[1]: request id (lease id); ARGV[2]: idempotency TTL ms; then 6 per check:
 *   algorithm (1 token bucket, 2 sliding window, 3 fixed window, 4 concurrency), limit, burst,
 *   window ms (lease TTL for concurrency), calendar (0 none, 1 day, 2 month), cost.
 * Returns { allowed, now, then 5 per check: allowed, remaining, resetAt, retryAfterMs, window }
 * as strings (Redis would truncate Lua floats to integers). A repeated request id returns the
 * recorded answer without charging again, so a resent command is never counted twice.
 */
export const CONSUME_LUA = `${COMMON}
local recorded = redis.call('GET', KEYS[1])
if recorded then return cjson.decode(recorded) end
local now = now_ms()
local lease = ARGV[1]
local n = #KEYS - 1
local out = {}
local state = {}
local all = true
for i = 1, n do
  local base = 2 + (i - 1) * 6
  local alg = tonumber(ARGV[base + 1])
  local limit = tonumber(ARGV[base + 2])
  local burst = tonumber(ARGV[base + 3])
  local window_ms = tonumber(ARGV[base + 4])
  local calendar = tonumber(ARGV[base + 5])
  local cost = tonumber(ARGV[base + 6])
  local key = KEYS[i + 1]
  local allowed, remaining, reset_at, retry, win = true, 0, now, 0, 0
  if alg == 1 then
    local interval = window_ms / limit
    local tat = tonumber(redis.call('GET', key) or '0')
    if tat < now then tat = now end
    remaining = math.max(0, math.floor(burst - (tat - now) / interval + EPSILON))
    reset_at = tat
    if cost > burst then allowed, retry = false, -1
    else
      local allow_at = tat + (cost - burst) * interval
      allowed = cost == 0 or allow_at <= now + EPSILON
      if not allowed then retry = math.max(1, math.ceil(allow_at - now - EPSILON)) end
    end
    state[i] = tat
  elseif alg == 2 then
    local slot = window_ms / SLOTS
    local current = math.floor(now / slot)
    local oldest = current - SLOTS
    local fields = redis.call('HGETALL', key)
    local amounts = {}
    local used, newest = 0, oldest
    for j = 1, #fields, 2 do
      local index = tonumber(fields[j])
      local amount = tonumber(fields[j + 1])
      if index < oldest then redis.call('HDEL', key, fields[j])
      else
        amounts[index] = amount
        used = used + amount
        if index > newest and amount > 0 then newest = index end
      end
    end
    win = current
    remaining = math.max(0, math.floor(limit - used + EPSILON))
    reset_at = used > 0 and (newest + SLOTS + 1) * slot or now
    if cost > limit then allowed, retry = false, -1
    else
      allowed = cost == 0 or used + cost <= limit + EPSILON
      if not allowed then
        local left = used
        local at = oldest + 2 * SLOTS + 1
        for index = oldest, oldest + SLOTS do
          left = left - (amounts[index] or 0)
          if left + cost <= limit + EPSILON then at = index + SLOTS + 1 break end
        end
        local when = at * slot
        while math.floor(when / slot) < at do when = when + 0.001 end
        retry = math.max(1, math.ceil(when - now - EPSILON))
      end
    end
  elseif alg == 3 then
    local start, finish = bounds(window_ms, calendar, now)
    local stored = redis.call('HMGET', key, 's', 'c')
    local used = 0
    if tonumber(stored[1]) == start then used = tonumber(stored[2]) or 0 end
    win = start
    remaining = math.max(0, limit - used)
    reset_at = used > 0 and finish or now
    if cost > limit then allowed, retry = false, -1
    else
      allowed = cost == 0 or used + cost <= limit
      if not allowed then retry = math.max(1, finish - now) end
    end
    state[i] = { start, finish, used }
  else
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    local held = redis.call('ZCARD', key)
    remaining = math.max(0, limit - held)
    local latest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    if latest[2] then reset_at = math.max(now, tonumber(latest[2])) end
    if cost > limit then allowed, retry = false, -1
    else
      allowed = cost == 0 or held + cost <= limit
      if not allowed then
        local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
        retry = math.max(1, math.ceil(tonumber(first[2] or now) - now))
      end
    end
  end
  if not allowed then all = false end
  out[i] = { allowed and 1 or 0, remaining, reset_at, retry, win, alg, limit, window_ms, cost, key }
end
local reply = { all and '1' or '0', tostring(now) }
for i = 1, n do
  local r = out[i]
  local alg, limit, window_ms, cost, key = r[6], r[7], r[8], r[9], r[10]
  if all and cost > 0 then
    if alg == 1 then
      local tat = state[i] + cost * window_ms / limit
      redis.call('SET', key, string.format('%.6f', tat), 'PX', math.max(1, math.ceil(tat - now)) + MARGIN)
      r[2] = math.max(0, r[2] - cost)
      r[3] = tat
    elseif alg == 2 then
      redis.call('HINCRBYFLOAT', key, tostring(r[5]), cost)
      redis.call('PEXPIRE', key, math.ceil(window_ms + window_ms / SLOTS) + MARGIN)
      r[2] = math.max(0, r[2] - cost)
      r[3] = (r[5] + SLOTS + 1) * (window_ms / SLOTS)
    elseif alg == 3 then
      local start, finish, used = state[i][1], state[i][2], state[i][3]
      redis.call('HSET', key, 's', start, 'c', used + cost)
      redis.call('PEXPIRE', key, math.max(1, finish - now) + MARGIN)
      r[2] = math.max(0, r[2] - cost)
      r[3] = finish
    else
      redis.call('ZADD', key, now + window_ms, lease)
      redis.call('PEXPIRE', key, window_ms + MARGIN)
      r[2] = math.max(0, r[2] - 1)
      if now + window_ms > r[3] then r[3] = now + window_ms end
    end
  end
  for j = 1, 5 do table.insert(reply, string.format('%.6f', r[j])) end
end
redis.call('SET', KEYS[1], cjson.encode(reply), 'PX', tonumber(ARGV[2]))
return reply
`

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
