/**
 * Lua scripts of RedisEventLog. Layout under the hash-tagged prefix `{p}` (one cluster slot):
 *
 * - `{p}:all`         the global stream: entry id `<position>-0`, fields s r i t d m ts
 *                     (stream, revision, event id, type, data, metadata, epoch ms)
 * - `{p}:s:<stream>`  one stream's index: entry id `<revision>-0`, field p = position
 * - `{p}:pos`         the last position handed out (INCR)
 * - `{p}:ids`         event id -> position (duplicate ids, idempotent retries)
 *
 * Positions are assigned by INCR inside the append script, which Redis runs alone: the order of
 * positions is the commit order, so a reader that has seen position n has seen everything below n.
 */
import { LuaScript } from '../../agents/redis/client.js';

/** ARGV fields per event in {@link APPEND}: id, checked ('1' = a caller's id to look up), type, data, metadata. */
export const FIELDS_PER_EVENT = 5;

/**
 * KEYS: pos, all, ids, then one index key per stream part. ARGV: part count, then per part:
 * stream name, expected ('any' | 'no_stream' | 'stream_exists' | <n>), event count, events.
 *
 * Every check runs before the first write, so a rejected append writes nothing. Returns
 * `{1, rev1, pos1, rev2, pos2, ...}` (last revision and position of each part),
 * `{-1, part, actual}` on a revision conflict, or `{-2, id, pos, stream, rev, ...}` when ids of the
 * batch are already stored (the caller decides between an idempotent retry and a ValidationError).
 */
export const APPEND = new LuaScript(`
local k = tonumber(ARGV[1])
local parts = {}
local a = 2
for j = 1, k do
  local n = tonumber(ARGV[a + 2])
  parts[j] = { name = ARGV[a], expected = ARGV[a + 1], n = n, first = a + 3, key = KEYS[3 + j] }
  a = a + 3 + n * ${FIELDS_PER_EVENT}
end
local found = {}
for j = 1, k do
  local p = parts[j]
  for e = 0, p.n - 1 do
    local b = p.first + e * ${FIELDS_PER_EVENT}
    if ARGV[b + 1] == '1' then
      local pos = redis.call('HGET', KEYS[3], ARGV[b])
      if pos then
        local g = redis.call('XRANGE', KEYS[2], pos .. '-0', pos .. '-0')[1]
        if not g then return redis.error_reply('DGENT_CORRUPT event id ' .. ARGV[b] .. ' points at a missing position') end
        local f = g[2]
        local s, r
        for x = 1, #f, 2 do
          if f[x] == 's' then s = f[x + 1] elseif f[x] == 'r' then r = f[x + 1] end
        end
        found[#found + 1] = ARGV[b]
        found[#found + 1] = pos
        found[#found + 1] = s
        found[#found + 1] = r
      end
    end
  end
end
if #found > 0 then
  table.insert(found, 1, -2)
  return found
end
for j = 1, k do
  local p = parts[j]
  local cur = redis.call('XLEN', p.key)
  local x = p.expected
  local ok = x == 'any' or (x == 'no_stream' and cur == 0) or (x == 'stream_exists' and cur > 0) or tonumber(x) == cur
  if not ok then return {-1, j, cur} end
  p.cur = cur
end
local now = redis.call('TIME')
local ms = string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
local out = {1}
for j = 1, k do
  local p = parts[j]
  local rev = p.cur
  local pos
  for e = 0, p.n - 1 do
    local b = p.first + e * ${FIELDS_PER_EVENT}
    pos = redis.call('INCR', KEYS[1])
    rev = rev + 1
    local ps, rs = string.format('%d', pos), string.format('%d', rev)
    redis.call('XADD', KEYS[2], ps .. '-0', 's', p.name, 'r', rs, 'i', ARGV[b], 't', ARGV[b + 2], 'd', ARGV[b + 3], 'm', ARGV[b + 4], 'ts', ms)
    redis.call('XADD', p.key, rs .. '-0', 'p', ps)
    redis.call('HSET', KEYS[3], ARGV[b], ps)
  end
  out[#out + 1] = rev
  out[#out + 1] = pos
end
return out
`);

/**
 * KEYS: index, all. ARGV: first id, last id, count, 'f' | 'b'. The global entries of a window of
 * one stream's revisions, in XRANGE shape ({id, fields}), in one round trip.
 */
export const READ_STREAM = new LuaScript(`
local r
if ARGV[4] == 'f' then
  r = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])
else
  r = redis.call('XREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])
end
local out = {}
for i, e in ipairs(r) do
  local pos = e[2][2]
  local g = redis.call('XRANGE', KEYS[2], pos .. '-0', pos .. '-0')[1]
  if not g then return redis.error_reply('DGENT_CORRUPT stream index points at missing position ' .. tostring(pos)) end
  out[i] = g
end
return out
`);
