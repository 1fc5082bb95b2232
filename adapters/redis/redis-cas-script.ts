/**
 * Compare-and-set on event time for a batch of rows of one table, in one script call (atomic per call).
 *
 * KEYS[i]: entity row hash. ARGV[1]: field (table id). ARGV[2]: ttl in ms, `0` for none.
 * ARGV[2 + i]: encoded cell for KEYS[i], `<eventTs>:<tag><payload>`. Returns `{ written, skippedOlder }`.
 *
 * A row is skipped when the stored cell has a strictly greater event time (equal: the later write wins; rows
 * apply in order). Key expiry (Redis ≥ 7.0 for `GT`): a table with ttl pushes the row's expiry out to
 * `eventTs + ttl` (never pulls it in); a table without ttl makes the row persistent. So a row expires only once
 * every cell in it is past its table's ttl.
 */
export const REDIS_CAS_SCRIPT = `
local field = ARGV[1]
local ttl = tonumber(ARGV[2])
local written = 0
local skipped = 0
for i = 1, #KEYS do
  local key = KEYS[i]
  local cell = ARGV[i + 2]
  local ts = tonumber(string.match(cell, '^(-?%d+):'))
  local current = redis.call('HGET', key, field)
  if current and tonumber(string.match(current, '^(-?%d+):')) > ts then
    skipped = skipped + 1
  else
    if ttl > 0 then
      local existed = current or redis.call('EXISTS', key) == 1
      redis.call('HSET', key, field, cell)
      local at = string.format('%.0f', ts + ttl)
      if existed then
        redis.call('PEXPIREAT', key, at, 'GT')
      else
        redis.call('PEXPIREAT', key, at)
      end
    else
      redis.call('HSET', key, field, cell)
      redis.call('PERSIST', key)
    end
    written = written + 1
  end
end
return { written, skipped }
`;
