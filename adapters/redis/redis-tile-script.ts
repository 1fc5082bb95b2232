/**
 * The Lua script of RedisTileStore.applyEvents (a TS module, like redis-cas-script.ts, so it ships with the build).
 */
export const REDIS_TILE_SCRIPT = `
-- Applies tile events to one (feature, entity key) hash atomically; see adapters/redis/redis-tile-store.ts.
-- KEYS[1]: the hash. Fields: t:<tileStart> = partial text, o:<tileStart>:<partition> = highest applied offset,
-- max / min = newest / oldest tile start.
-- ARGV[1]: window ms ('' = none), ARGV[2]: tile ms, ARGV[3]: key TTL ms ('' = none),
-- then per event 4 values: tileStart, partition (-1 = no replay check), offset, partial text.
-- Partial text: count|sum|min|max|lastTs|lastPartition|lastOffset|lastJson (min/max/last fields empty for none).
-- Returns the number of events applied (the others were replays).
local key = KEYS[1]

local function split(s)
  local out = {}
  local from = 1
  for i = 1, 7 do
    local at = string.find(s, '|', from, true)
    out[i] = string.sub(s, from, at - 1)
    from = at + 1
  end
  out[8] = string.sub(s, from)
  return out
end

local function fmt(x)
  if x == math.floor(x) and math.abs(x) < 1e15 then return string.format('%d', x) end
  return string.format('%.17g', x)
end

local function lastWins(a, b)
  -- true when a's last entry orders at or after b's: (ts, partition, offset) ascending
  local ats, bts = tonumber(a[5]), tonumber(b[5])
  if ats ~= bts then return ats > bts end
  local ap, bp = tonumber(a[6]), tonumber(b[6])
  if ap ~= bp then return ap > bp end
  return tonumber(a[7]) >= tonumber(b[7])
end

local function combine(a, b)
  local c = {}
  c[1] = fmt(tonumber(a[1]) + tonumber(b[1]))
  c[2] = fmt(tonumber(a[2]) + tonumber(b[2]))
  if a[3] == '' then c[3] = b[3] elseif b[3] == '' or tonumber(a[3]) <= tonumber(b[3]) then c[3] = a[3] else c[3] = b[3] end
  if a[4] == '' then c[4] = b[4] elseif b[4] == '' or tonumber(a[4]) >= tonumber(b[4]) then c[4] = a[4] else c[4] = b[4] end
  local l = a
  if a[5] == '' or (b[5] ~= '' and not lastWins(a, b)) then l = b end
  c[5], c[6], c[7], c[8] = l[5], l[6], l[7], l[8]
  return table.concat(c, '|')
end

local window, tileMs = ARGV[1], ARGV[2]
local bounds = redis.call('HMGET', key, 'max', 'min')
local maxTile = tonumber(bounds[1] or '')
local minTile = tonumber(bounds[2] or '')
local newMin = false
local newMax = false
local applied = 0
for i = 4, #ARGV, 4 do
  local tile, partition, offset, partial = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local fresh = true
  if partition ~= '-1' then
    local ofield = 'o:' .. tile .. ':' .. partition
    local seen = redis.call('HGET', key, ofield)
    if seen and tonumber(seen) >= tonumber(offset) then
      fresh = false
    else
      redis.call('HSET', key, ofield, offset)
    end
  end
  if fresh then
    applied = applied + 1
    local tfield = 't:' .. tile
    local current = redis.call('HGET', key, tfield)
    if current then partial = combine(split(current), split(partial)) end
    redis.call('HSET', key, tfield, partial)
    local t = tonumber(tile)
    if not maxTile or t > maxTile then
      maxTile = t
      newMax = true
    end
    if not minTile or t < minTile then
      minTile = t
      newMin = true
    end
  end
end
if newMax then redis.call('HSET', key, 'max', fmt(maxTile)) end
-- Expiry: only scan the hash when its oldest tile (min) fell behind the threshold.
if window ~= '' and maxTile and minTile and minTile < maxTile - tonumber(window) - tonumber(tileMs) then
  local threshold = maxTile - tonumber(window) - tonumber(tileMs)
  local fields = redis.call('HKEYS', key)
  local dead = {}
  minTile = maxTile
  for _, f in ipairs(fields) do
    local s = string.match(f, '^[to]:(%-?%d+)')
    if s then
      local n = tonumber(s)
      if n < threshold then dead[#dead + 1] = f elseif n < minTile then minTile = n end
    end
  end
  for j = 1, #dead, 1000 do
    redis.call('HDEL', key, unpack(dead, j, math.min(j + 999, #dead)))
  end
  newMin = true
end
if newMin then redis.call('HSET', key, 'min', fmt(minTile)) end
if applied > 0 and ARGV[3] ~= '' then redis.call('PEXPIRE', key, ARGV[3]) end
return applied
`;
