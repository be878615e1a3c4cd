/**
 * Lua shared by the consume and adjust scripts: the clock and calendar windows (UTC, or zoned bounds the app sends).
 * The clock is Redis TIME, so app servers with skewed clocks still agree.
 */
export const COMMON = `
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

-- A zoned calendar arrives as 'b0,b1,b2,b3': the bounds (epoch ms) of the previous, current and next local periods.
local function zoned(arg)
  local b0, b1, b2, b3 = string.match(arg, '^(%d+),(%d+),(%d+),(%d+)$')
  return { tonumber(b0), tonumber(b1), tonumber(b2), tonumber(b3) }
end

-- Window bounds of a fixed or calendar rule (calendar: 1 = day, 2 = month, 3 = week, or zoned bounds).
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
  elseif calendar == 3 then
    -- Weeks start on Monday; 1970-01-01 was a Thursday.
    local d = math.floor(now / day)
    local start = (d - (d + 3) % 7) * day
    return start, start + 7 * day
  elseif calendar ~= 0 then
    -- The zoned period holding now. Before them all (an undo of a charge older than the bounds, or Redis more than
    -- a period behind the app) the window is -1, which no charge made in a real period holds.
    if now < calendar[1] then return -1, calendar[1] end
    if now < calendar[2] then return calendar[1], calendar[2] end
    if now < calendar[3] then return calendar[2], calendar[3] end
    if now < calendar[4] then return calendar[3], calendar[4] end
    -- Redis is more than a period ahead of the app: the period after, taken as long as the last one.
    return calendar[4], 2 * calendar[4] - calendar[3]
  end
  local start = math.floor(now / window_ms) * window_ms
  return start, start + window_ms
end

local SLOTS = 10
local EPSILON = 0.000001
local MARGIN = 1000
`
