/**
 * The Lua script of RedisTileStore.applyEvents (a TS module, like redis-cas-script.ts, so it ships with the build).
 */
export const REDIS_TILE_SCRIPT = `
-- Applies tile events to many (feature, entity key) hashes; each hash is updated atomically (the whole script is).
-- See adapters/redis/redis-tile-store.ts.
-- KEYS[k]: one hash per entity key. Fields: t:<tileStart> = partial text, o:<tileStart>:<partition> = highest
-- applied offset, max / min = newest / oldest tile start. The script touches only KEYS, and each key's fence (o:)
-- lives in that key's hash, so calls may carry any set of keys; on Redis Cluster the caller groups them by slot.
-- ARGV[1]: window ms ('' = none), ARGV[2]: tile ms, ARGV[3]: key TTL ms ('' = none); then per key, in KEYS order:
-- the number of its events n, then per event 5 values: tileStart, partition (-1 = no replay check), firstOffset,
-- offset, partial text. An event may be a pre-combined run of offsets firstOffset..offset of one partition.
-- Partial text: count|sum|min|max|lastTs|lastPartition|lastOffset|lastJson (min/max/last fields empty for none).
-- Per event: offset <= applied offset: a replay, skipped. firstOffset > applied offset (or none): applied.
-- Otherwise the run straddles the applied offset: not applied, reported so the caller re-sends the part above it.
-- Returns { applied, straddledIndex1, appliedOffset1, ... } with event indexes counted from 0 across all keys.

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

local window, tileMs, ttl = ARGV[1], ARGV[2], ARGV[3]
local applied = 0
local out = { 0 }
local at = 4
local index = 0
for k = 1, #KEYS do
  local key = KEYS[k]
  local n = tonumber(ARGV[at])
  local first = at + 1
  at = first + n * 5
  -- One read of every field this key's events touch.
  local names = { 'max', 'min' }
  for i = first, at - 1, 5 do
    names[#names + 1] = 't:' .. ARGV[i]
    if ARGV[i + 1] ~= '-1' then names[#names + 1] = 'o:' .. ARGV[i] .. ':' .. ARGV[i + 1] end
  end
  local values = redis.call('HMGET', key, unpack(names))
  local state = {}
  for i = 1, #names do
    if values[i] then state[names[i]] = values[i] end
  end
  local dirty = {}
  local maxTile = tonumber(state['max'] or '')
  local minTile = tonumber(state['min'] or '')
  local newMin, newMax = false, false
  local keyApplied = 0
  for i = first, at - 1, 5 do
    local tile, partition, firstOffset, offset, partial = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
    local fresh = true
    if partition ~= '-1' then
      local ofield = 'o:' .. tile .. ':' .. partition
      local seen = state[ofield]
      if seen and tonumber(seen) >= tonumber(offset) then
        fresh = false
      elseif seen and tonumber(seen) >= tonumber(firstOffset) then
        fresh = false
        out[#out + 1] = index
        out[#out + 1] = tonumber(seen)
      else
        state[ofield] = offset
        dirty[ofield] = true
      end
    end
    if fresh then
      keyApplied = keyApplied + 1
      local tfield = 't:' .. tile
      local current = state[tfield]
      if current then partial = combine(split(current), split(partial)) end
      state[tfield] = partial
      dirty[tfield] = true
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
    index = index + 1
  end
  if newMax then
    state['max'] = fmt(maxTile)
    dirty['max'] = true
  end
  -- Expiry: only scan the hash when its oldest tile (min) fell behind the threshold (rare: after a slide).
  local expire = window ~= '' and maxTile and minTile and minTile < maxTile - tonumber(window) - tonumber(tileMs)
  if newMin and not expire then
    state['min'] = fmt(minTile)
    dirty['min'] = true
    newMin = false
  end
  local writes = {}
  for f in pairs(dirty) do
    writes[#writes + 1] = f
    writes[#writes + 1] = state[f]
  end
  if #writes > 0 then redis.call('HSET', key, unpack(writes)) end
  if expire then
    local threshold = maxTile - tonumber(window) - tonumber(tileMs)
    local fields = redis.call('HKEYS', key)
    local dead = {}
    minTile = maxTile
    for _, f in ipairs(fields) do
      local s = string.match(f, '^[to]:(%-?%d+)')
      if s then
        local m = tonumber(s)
        if m < threshold then dead[#dead + 1] = f elseif m < minTile then minTile = m end
      end
    end
    for j = 1, #dead, 1000 do
      redis.call('HDEL', key, unpack(dead, j, math.min(j + 999, #dead)))
    end
    newMin = true
  end
  if newMin then redis.call('HSET', key, 'min', fmt(minTile)) end
  if keyApplied > 0 and ttl ~= '' then redis.call('PEXPIRE', key, ttl) end
  applied = applied + keyApplied
end
out[1] = applied
return out
`;
