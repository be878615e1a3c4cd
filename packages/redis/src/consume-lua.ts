import { COMMON } from './lua-common.js'

/**
 * Consume: a batch of decisions, each all-or-nothing, in order, in one script call. A state key is read once
 * per batch and written once at the end, however many decisions of the batch touch it; request records are read
 * with one HMGET and written with one HSET per identity and batch. Numbers leave the script as integer replies,
 * never formatted into strings (Lua formats numbers with sprintf, the costliest step per decision).
 * KEYS[1..S]: state keys; KEYS[S+1..S+T]: the request-record base of each identity in the batch (records live in
 *   hashes `base:bucket`, one bucket per idempotency TTL; a record is found in its bucket or the next).
 * ARGV[1]: record TTL ms; ARGV[2]: deadline (Redis ms; a call that arrives later is not applied at all; 0 none);
 *   ARGV[3]: mode, 0 plain, 1 a denial checks pending markers (Cluster), 2 also marks what it charges as pending
 *   (one slot of a decision across slots, until it is final or undone); ARGV[4]: marker TTL ms;
 *   ARGV[5]: S; then 5 per state key: algorithm (1 token bucket, 2 sliding window,
 *   3 fixed window, 4 concurrency), limit, burst, window ms (lease TTL for concurrency), calendar (0 none,
 *   1 day, 2 month, 3 week, or 'b0,b1,b2,b3': the previous, current and next local periods of a zoned rule);
 *   then H, the number of shapes, and per shape: check count n and n pairs (state key index, cost); then D, the number of decisions, and per decision: record base index, shape index; then the D
 *   request ids (lease ids), in order.
 * Returns integers: now, a status (0 applied; -1 past the deadline, nothing else follows), the window id of each
 *   state key, then per decision a flag and per check:
 *   1 admitted: remaining, resetAt; 0 denied: allowed, remaining, resetAt, retryAfterMs;
 *   3 denied only because of other decisions' pending charges (worth trying again), as 0;
 *   2 admitted before under this request id (nothing charged again): remaining, resetAt, window;
 *   4 this request id was voided (its client was told it failed): nothing charged, no check data.
 * Pending markers of a key live in the sorted set `key:pend`, member `cost|id`, score their expiry.
 */
export const CONSUME_LUA = `${COMMON}
local max, floor, ceil, tonumber, call, unpack = math.max, math.floor, math.ceil, tonumber, redis.call, unpack
local ttl = tonumber(ARGV[1])
local now = now_ms()
local deadline = tonumber(ARGV[2])
if deadline > 0 and now > deadline then return { now, -1 } end
local mode, mark_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
local S = tonumber(ARGV[5])
local T = #KEYS - S
local algs, limits, bursts, windows, calendars = {}, {}, {}, {}, {}
local a = 6
for k = 1, S do
  algs[k], limits[k], bursts[k] = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  windows[k], calendars[k] = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]) or zoned(ARGV[a + 4])
  a = a + 5
end
local H = tonumber(ARGV[a])
a = a + 1
local shape_first, shape_n, shape_k, shape_cost = {}, {}, {}, {}
local e = 0
for h = 1, H do
  local n = tonumber(ARGV[a])
  shape_first[h], shape_n[h] = e + 1, n
  for i = 1, n do
    shape_k[e + i], shape_cost[e + i] = tonumber(ARGV[a + 2 * i - 1]), tonumber(ARGV[a + 2 * i])
  end
  e = e + n
  a = a + 1 + 2 * n
end
local D = tonumber(ARGV[a])
local per = a + 1
local ids = per + 2 * D
local loaded, dirty = {}, {}

-- State of a key as of now, read from Redis on first use in this batch.
local function load(k)
  local st = loaded[k]
  if st then return st end
  local alg, window_ms = algs[k], windows[k]
  local key = KEYS[k]
  if alg == 1 then
    st = { tat = tonumber(call('GET', key) or '0'), win = 0 }
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
    st = { slot = slot, current = current, oldest = oldest, amounts = amounts, used = used, newest = newest, added = 0, win = current }
  elseif alg == 3 then
    local start, finish = bounds(window_ms, calendars[k], now)
    local stored = call('HMGET', key, 's', 'c')
    local used = 0
    if tonumber(stored[1]) == start then used = tonumber(stored[2]) or 0 end
    st = { start = start, finish = finish, used = used, win = start }
  else
    call('ZREMRANGEBYSCORE', key, '-inf', now)
    st = { win = 0 }
  end
  loaded[k] = st
  return st
end

-- The window id of key k at time at (a replayed decision reports the window it was charged in).
local function window_at(k, at)
  local alg = algs[k]
  if alg == 2 then return floor(at / (windows[k] / SLOTS)) end
  if alg == 3 then return (bounds(windows[k], calendars[k], at)) end
  return 0
end

-- Would this check admit its cost? Returns allowed, remaining, reset_at, retry.
local function evaluate(k, cost)
  local alg, limit = algs[k], limits[k]
  local st = load(k)
  if alg == 1 then
    local burst = bursts[k]
    local interval = windows[k] / limit
    local tat = st.tat
    if tat < now then tat = now end
    local remaining = max(0, floor(burst - (tat - now) / interval + EPSILON))
    if cost > burst then return false, remaining, tat, -1 end
    local allow_at = tat + (cost - burst) * interval
    if cost <= 0 or allow_at <= now + EPSILON then return true, remaining, tat, 0 end
    return false, remaining, tat, max(1, ceil(allow_at - now - EPSILON))
  elseif alg == 2 then
    local used = st.used
    local remaining = max(0, floor(limit - used + EPSILON))
    local reset_at = used > 0 and (st.newest + SLOTS + 1) * st.slot or now
    if cost > limit then return false, remaining, reset_at, -1 end
    if cost <= 0 or used + cost <= limit + EPSILON then return true, remaining, reset_at, 0 end
    local left = used
    local at = st.oldest + 2 * SLOTS + 1
    for index = st.oldest, st.oldest + SLOTS do
      left = left - (st.amounts[index] or 0)
      if left + cost <= limit + EPSILON then at = index + SLOTS + 1 break end
    end
    local when = at * st.slot
    while floor(when / st.slot) < at do when = when + 0.001 end
    return false, remaining, reset_at, max(1, ceil(when - now - EPSILON))
  elseif alg == 3 then
    local used = st.used
    local remaining = max(0, limit - used)
    local reset_at = used > 0 and st.finish or now
    if cost > limit then return false, remaining, reset_at, -1 end
    if cost <= 0 or used + cost <= limit then return true, remaining, reset_at, 0 end
    return false, remaining, reset_at, max(1, st.finish - now)
  end
  local key = KEYS[k]
  local held = call('ZCARD', key)
  local remaining = max(0, limit - held)
  local reset_at = now
  local latest = call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if latest[2] then reset_at = max(now, tonumber(latest[2])) end
  if cost > limit then return false, remaining, reset_at, -1 end
  if cost <= 0 or held + cost <= limit then return true, remaining, reset_at, 0 end
  local first = call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return false, remaining, reset_at, max(1, ceil(tonumber(first[2] or now) - now))
end

-- Charges an admitted check; state is written back once, after the batch. Returns remaining, reset_at.
local function charge(k, cost, lease, remaining, reset_at)
  local alg, window_ms = algs[k], windows[k]
  local st = loaded[k]
  if not st.dirty then
    st.dirty = true
    dirty[#dirty + 1] = k
  end
  if alg == 1 then
    st.tat = max(st.tat, now) + cost * window_ms / limits[k]
    return max(0, remaining - cost), st.tat
  elseif alg == 2 then
    st.amounts[st.current] = (st.amounts[st.current] or 0) + cost
    st.used = st.used + cost
    st.added = st.added + cost
    st.newest = st.current
    return max(0, remaining - cost), (st.current + SLOTS + 1) * st.slot
  elseif alg == 3 then
    st.used = st.used + cost
    return max(0, remaining - cost), st.finish
  end
  call('ZADD', KEYS[k], now + window_ms, lease)
  return max(0, remaining - 1), max(reset_at, now + window_ms)
end

-- Pending charges on key k: what decisions across slots took and may still give back (Cluster only).
local pend = {}
local function pending(k)
  local p = pend[k]
  if p then return p end
  local name = KEYS[k] .. ':pend'
  call('ZREMRANGEBYSCORE', name, '-inf', now)
  p = 0
  for _, member in ipairs(call('ZRANGE', name, 0, -1)) do p = p + (tonumber(member:match('^(%d+)|')) or 0) end
  pend[k] = p
  return p
end

-- Request records: one HMGET per identity in this bucket and the one before, so a record lives at least ttl ms.
local bucket = floor(now / ttl)
local stamp = tostring(now)
local recorded, writes = {}, {}
if T == 1 then
  local base = KEYS[S + 1]
  local current = call('HMGET', base .. ':' .. bucket, unpack(ARGV, ids, ids + D - 1))
  local previous = call('HMGET', base .. ':' .. (bucket - 1), unpack(ARGV, ids, ids + D - 1))
  for d = 1, D do recorded[d] = current[d] or previous[d] end
  writes[1] = {}
else
  local lists = {}
  for t = 1, T do lists[t], writes[t] = {}, {} end
  for d = 1, D do
    local list = lists[tonumber(ARGV[per + 2 * d - 2])]
    list[#list + 1] = d
  end
  for t = 1, T do
    local list = lists[t]
    if #list > 0 then
      local names = {}
      for i = 1, #list do names[i] = ARGV[ids + list[i] - 1] end
      local base = KEYS[S + t]
      local current = call('HMGET', base .. ':' .. bucket, unpack(names))
      local previous = call('HMGET', base .. ':' .. (bucket - 1), unpack(names))
      for i = 1, #list do recorded[list[i]] = current[i] or previous[i] end
    end
  end
end

-- Scratch per check of the current decision, reused so a decision allocates nothing.
local ok_, left_, reset_, retry_ = {}, {}, {}, {}
-- Request ids admitted earlier in this batch: an id sent twice in one batch is charged once.
local fresh = {}
local out = { now, 0 }
for k = 1, S do out[2 + k] = 0 end
local o = 2 + S
for d = 1, D do
  local f = shape_first[tonumber(ARGV[per + 2 * d - 1])]
  local last = f + shape_n[tonumber(ARGV[per + 2 * d - 1])] - 1
  local previously = recorded[d] or fresh[ARGV[ids + d - 1]]
  if previously == 'v' then
    out[o + 1] = 4
    o = o + 1
  elseif previously then
    local at = tonumber(previously)
    out[o + 1] = 2
    o = o + 1
    for i = f, last do
      local k = shape_k[i]
      local _, remaining, reset_at = evaluate(k, 0)
      out[o + 1], out[o + 2], out[o + 3] = floor(remaining), ceil(reset_at), window_at(k, at)
      o = o + 3
    end
  else
    local all = true
    for i = f, last do
      local allowed, remaining, reset_at, retry = evaluate(shape_k[i], shape_cost[i])
      ok_[i], left_[i], reset_[i], retry_[i] = allowed, remaining, reset_at, retry
      if not allowed then all = false end
    end
    if all then
      out[o + 1] = 1
      o = o + 1
      local charged = false
      for i = f, last do
        local cost, remaining, reset_at = shape_cost[i], left_[i], reset_[i]
        if cost > 0 then
          local k = shape_k[i]
          remaining, reset_at = charge(k, cost, ARGV[ids + d - 1], remaining, reset_at)
          charged = true
          if mode == 2 then
            local name = KEYS[k] .. ':pend'
            call('ZADD', name, now + mark_ms, string.format('%d|', cost) .. ARGV[ids + d - 1])
            call('PEXPIRE', name, mark_ms + MARGIN)
            if pend[k] then pend[k] = pend[k] + cost end
          end
        end
        out[o + 1], out[o + 2] = floor(remaining), ceil(reset_at)
        o = o + 2
      end
      if charged then
        local id = ARGV[ids + d - 1]
        local w = writes[T == 1 and 1 or tonumber(ARGV[per + 2 * d - 2])]
        w[#w + 1] = id
        w[#w + 1] = stamp
        fresh[id] = stamp
      end
    else
      -- Denied: when every refusing check would admit without others' pending charges, say it is worth retrying.
      local flag = 0
      if mode > 0 then
        flag = 3
        for i = f, last do
          if not ok_[i] then
            local k = shape_k[i]
            local p = pending(k)
            if p == 0 or retry_[i] < 0 or not evaluate(k, shape_cost[i] - p) then flag = 0 break end
          end
        end
      end
      out[o + 1] = flag
      o = o + 1
      for i = f, last do
        out[o + 1], out[o + 2], out[o + 3], out[o + 4] = ok_[i] and 1 or 0, floor(left_[i]), ceil(reset_[i]), retry_[i]
        o = o + 4
      end
    end
  end
end
for k = 1, S do out[2 + k] = load(k).win end

for t = 1, T do
  local w = writes[t]
  if #w > 0 then
    local base = KEYS[S + t]
    local name = base .. ':' .. bucket
    call('HSET', name, unpack(w))
    -- A new bucket: give it its TTL and free the one before last in the background (it can be large).
    if call('PTTL', name) < 0 then
      call('PEXPIREAT', name, (bucket + 2) * ttl + MARGIN)
      call('UNLINK', base .. ':' .. (bucket - 2))
    end
  end
end

for _, k in ipairs(dirty) do
  local st, key, window_ms = loaded[k], KEYS[k], windows[k]
  local alg = algs[k]
  if alg == 1 then
    call('SET', key, string.format('%.6f', st.tat), 'PX', max(1, ceil(st.tat - now)) + MARGIN)
  elseif alg == 2 then
    call('HINCRBY', key, st.current, st.added)
    call('PEXPIRE', key, ceil(window_ms + window_ms / SLOTS) + MARGIN)
  elseif alg == 3 then
    call('HSET', key, 's', st.start, 'c', st.used)
    call('PEXPIRE', key, max(1, st.finish - now) + MARGIN)
  else
    call('PEXPIRE', key, window_ms + MARGIN)
  end
end
return out
`
