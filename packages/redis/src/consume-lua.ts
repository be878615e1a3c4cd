import { COMMON } from './lua-common.js'

/**
 * Consume: a batch of decisions, each all-or-nothing, in order, in one script call. A state key is read once
 * per batch and written once at the end, however many decisions of the batch touch it (a hot identity costs
 * one read and one write per batch, not per decision).
 * KEYS[1..S]: state keys; KEYS[S+1..S+D]: the idempotency record of each of the D decisions.
 * ARGV[1]: record TTL ms; ARGV[2]: S; then 5 per state key: algorithm (1 token bucket, 2 sliding window,
 *   3 fixed window, 4 concurrency), limit, burst, window ms (lease TTL for concurrency), calendar (0 none,
 *   1 day, 2 month); then per decision: request id (lease id), check count n, and n pairs: state key index, cost.
 * Returns one string per decision: "allowed,now" then 5 numbers per check: allowed, remaining, resetAt,
 * retryAfterMs, window. An admitted decision's string is recorded under its request id; a repeated id
 * returns the recorded string without charging again, so a resent command is never counted twice.
 */
export const CONSUME_LUA = `${COMMON}
local max, floor, ceil, tonumber, concat, call = math.max, math.floor, math.ceil, tonumber, table.concat, redis.call
local ttl = tonumber(ARGV[1])
local S = tonumber(ARGV[2])
local now = now_ms()
local spec = {}
for k = 1, S do
  local b = 2 + (k - 1) * 5
  spec[k] = { tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5]) }
end
local loaded, dirty = {}, {}

-- State of a key as of now, read from Redis on first use in this batch.
local function load(k)
  local st = loaded[k]
  if st then return st end
  local alg, window_ms, calendar = spec[k][1], spec[k][4], spec[k][5]
  local key = KEYS[k]
  if alg == 1 then
    st = { tat = tonumber(call('GET', key) or '0') }
  elseif alg == 2 then
    local slot = window_ms / SLOTS
    local current = floor(now / slot)
    local oldest = current - SLOTS
    local fields = call('HGETALL', key)
    local amounts, used, newest, stale = {}, 0, oldest, {}
    for j = 1, #fields, 2 do
      local index = tonumber(fields[j])
      local amount = tonumber(fields[j + 1])
      if index < oldest then stale[#stale + 1] = fields[j]
      else
        amounts[index] = amount
        used = used + amount
        if index > newest and amount > 0 then newest = index end
      end
    end
    if #stale > 0 then call('HDEL', key, unpack(stale)) end
    st = { slot = slot, current = current, oldest = oldest, amounts = amounts, used = used, newest = newest, added = 0 }
  elseif alg == 3 then
    local start, finish = bounds(window_ms, calendar, now)
    local stored = call('HMGET', key, 's', 'c')
    local used = 0
    if tonumber(stored[1]) == start then used = tonumber(stored[2]) or 0 end
    st = { start = start, finish = finish, used = used }
  else
    call('ZREMRANGEBYSCORE', key, '-inf', now)
    st = {}
  end
  loaded[k] = st
  return st
end

-- Would this check admit its cost? Returns allowed, remaining, reset_at, retry, window.
local function evaluate(k, cost)
  local alg, limit, burst, window_ms = spec[k][1], spec[k][2], spec[k][3], spec[k][4]
  local st = load(k)
  if alg == 1 then
    local interval = window_ms / limit
    local tat = st.tat
    if tat < now then tat = now end
    local remaining = max(0, floor(burst - (tat - now) / interval + EPSILON))
    if cost > burst then return false, remaining, tat, -1, 0 end
    local allow_at = tat + (cost - burst) * interval
    if cost == 0 or allow_at <= now + EPSILON then return true, remaining, tat, 0, 0 end
    return false, remaining, tat, max(1, ceil(allow_at - now - EPSILON)), 0
  elseif alg == 2 then
    local used = st.used
    local remaining = max(0, floor(limit - used + EPSILON))
    local reset_at = used > 0 and (st.newest + SLOTS + 1) * st.slot or now
    if cost > limit then return false, remaining, reset_at, -1, st.current end
    if cost == 0 or used + cost <= limit + EPSILON then return true, remaining, reset_at, 0, st.current end
    local left = used
    local at = st.oldest + 2 * SLOTS + 1
    for index = st.oldest, st.oldest + SLOTS do
      left = left - (st.amounts[index] or 0)
      if left + cost <= limit + EPSILON then at = index + SLOTS + 1 break end
    end
    local when = at * st.slot
    while floor(when / st.slot) < at do when = when + 0.001 end
    return false, remaining, reset_at, max(1, ceil(when - now - EPSILON)), st.current
  elseif alg == 3 then
    local used = st.used
    local remaining = max(0, limit - used)
    local reset_at = used > 0 and st.finish or now
    if cost > limit then return false, remaining, reset_at, -1, st.start end
    if cost == 0 or used + cost <= limit then return true, remaining, reset_at, 0, st.start end
    return false, remaining, reset_at, max(1, st.finish - now), st.start
  end
  local key = KEYS[k]
  local held = call('ZCARD', key)
  local remaining = max(0, limit - held)
  local reset_at = now
  local latest = call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if latest[2] then reset_at = max(now, tonumber(latest[2])) end
  if cost > limit then return false, remaining, reset_at, -1, 0 end
  if cost == 0 or held + cost <= limit then return true, remaining, reset_at, 0, 0 end
  local first = call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return false, remaining, reset_at, max(1, ceil(tonumber(first[2] or now) - now)), 0
end

-- Charges an admitted check; state is written back once, after the batch. Returns remaining, reset_at.
local function charge(k, cost, lease, remaining, reset_at)
  local alg, limit, window_ms = spec[k][1], spec[k][2], spec[k][4]
  local st = loaded[k]
  if alg == 4 then
    call('ZADD', KEYS[k], now + window_ms, lease)
    call('PEXPIRE', KEYS[k], window_ms + MARGIN)
    return max(0, remaining - 1), max(reset_at, now + window_ms)
  end
  if not st.dirty then
    st.dirty = true
    dirty[#dirty + 1] = k
  end
  if alg == 1 then
    st.tat = max(st.tat, now) + cost * window_ms / limit
    return max(0, remaining - cost), st.tat
  elseif alg == 2 then
    st.amounts[st.current] = (st.amounts[st.current] or 0) + cost
    st.used = st.used + cost
    st.added = st.added + cost
    st.newest = st.current
    return max(0, remaining - cost), (st.current + SLOTS + 1) * st.slot
  end
  st.used = st.used + cost
  return max(0, remaining - cost), st.finish
end

local replies, out, parts = {}, {}, {}
local a = 3 + S * 5
for d = 1, #KEYS - S do
  local record = KEYS[S + d]
  local lease = ARGV[a]
  local n = tonumber(ARGV[a + 1])
  local first = a + 2
  a = first + n * 2
  local recorded = call('GET', record)
  if recorded then replies[d] = recorded
  else
    local all, charged = true, false
    local out = {}
    for i = 1, n do
      local k = tonumber(ARGV[first + (i - 1) * 2])
      local cost = tonumber(ARGV[first + (i - 1) * 2 + 1])
      local allowed, remaining, reset_at, retry, win = evaluate(k, cost)
      if not allowed then all = false end
      out[i] = { k, cost, allowed, remaining, reset_at, retry, win }
    end
    local parts = { all and 1 or 0, now }
    for i = 1, n do
      local r = out[i]
      local remaining, reset_at = r[4], r[5]
      if all and r[2] > 0 then
        remaining, reset_at = charge(r[1], r[2], lease, remaining, reset_at)
        charged = true
      end
      local p = #parts
      parts[p + 1] = r[3] and 1 or 0
      parts[p + 2] = floor(remaining)
      parts[p + 3] = ceil(reset_at)
      parts[p + 4] = r[6]
      parts[p + 5] = r[7]
    end
    local reply = table.concat(parts, ',')
    if charged then call('SET', record, reply, 'PX', ttl) end
    replies[d] = reply
  end
end

for _, k in ipairs(dirty) do
  local st, key, window_ms = loaded[k], KEYS[k], spec[k][4]
  local alg = spec[k][1]
  if alg == 1 then
    call('SET', key, string.format('%.6f', st.tat), 'PX', max(1, ceil(st.tat - now)) + MARGIN)
  elseif alg == 2 then
    call('HINCRBYFLOAT', key, tostring(st.current), st.added)
    call('PEXPIRE', key, ceil(window_ms + window_ms / SLOTS) + MARGIN)
  else
    call('HSET', key, 's', st.start, 'c', st.used)
    call('PEXPIRE', key, max(1, st.finish - now) + MARGIN)
  end
end
return replies
`
