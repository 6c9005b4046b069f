/**
 * Lua scripts of RedisEventLog. Layout under the hash-tagged prefix `{p}` (one cluster slot):
 *
 * - `{p}:all`         the global stream: entry id `<position>-0`, fields s r i t d m ts
 *                     (stream, revision, event id, type, data, metadata, epoch ms)
 * - `{p}:s:<stream>`  one stream's index: entry id `<revision>-0`, field p = position
 * - `{p}:pos`         the last position handed out (INCR)
 * - `{p}:ids`         event id -> position (duplicate ids, idempotent retries)
 * - `{p}:erased`      erased events (see {@link ERASE}): sorted set, score = position, member =
 *                     the JSON array `[position, stream, revision, event id, epoch ms]`; their
 *                     entries are gone from `{p}:all`, and every read merges them back in as
 *                     events of type `dgent.erased` without data or metadata
 *
 * Positions are assigned by INCR inside the append script, which Redis runs alone: the order of
 * positions is the commit order, so a reader that has seen position n has seen everything below n.
 */
import { LuaScript } from '../../agents/redis/client.js';
import { ERASED_EVENT_TYPE } from '../erase.js';

/** ARGV fields per event in {@link APPEND}: id, checked ('1' = a caller's id to look up), type, data, metadata. */
export const FIELDS_PER_EVENT = 5;

/**
 * Lua: `stub(member)` turns a member of `{p}:erased` into a global-stream entry
 * (`{'<pos>-0', {s, r, i, t, d, m, ts}}`) of type dgent.erased, data `null`, no metadata;
 * `erasedAt(key, pos)` is the stub of an erased position, or nil.
 */
const ERASED_LUA = `
local function stub(member)
  local z = cjson.decode(member)
  return {z[1] .. '-0', {'s', z[2], 'r', z[3], 'i', z[4], 't', '${ERASED_EVENT_TYPE}', 'd', 'null', 'm', '', 'ts', z[5]}}
end
local function erasedAt(key, pos)
  local z = redis.call('ZRANGEBYSCORE', key, pos, pos)[1]
  if z then return stub(z) end
  return nil
end
`;

/**
 * KEYS: pos, all, ids, erased, then one index key per stream part. ARGV: part count, then per part:
 * stream name, expected ('any' | 'no_stream' | 'stream_exists' | <n>), event count, events.
 *
 * Every check runs before the first write, so a rejected append writes nothing. Returns
 * `{1, rev1, pos1, rev2, pos2, ...}` (last revision and position of each part),
 * `{-1, part, actual}` on a revision conflict, or `{-2, id, pos, stream, rev, ...}` when ids of the
 * batch are already stored (the caller decides between an idempotent retry and a ValidationError).
 */
export const APPEND = new LuaScript(`${ERASED_LUA}
local k = tonumber(ARGV[1])
local parts = {}
local a = 2
for j = 1, k do
  local n = tonumber(ARGV[a + 2])
  parts[j] = { name = ARGV[a], expected = ARGV[a + 1], n = n, first = a + 3, key = KEYS[4 + j] }
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
        local g = redis.call('XRANGE', KEYS[2], pos .. '-0', pos .. '-0')[1] or erasedAt(KEYS[4], pos)
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
 * KEYS: index, all, erased. ARGV: first id, last id, count, 'f' | 'b'. The global entries of a
 * window of one stream's revisions, in XRANGE shape ({id, fields}), in one round trip.
 */
export const READ_STREAM = new LuaScript(`${ERASED_LUA}
local r
if ARGV[4] == 'f' then
  r = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])
else
  r = redis.call('XREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])
end
local out = {}
for i, e in ipairs(r) do
  local pos = e[2][2]
  local g = redis.call('XRANGE', KEYS[2], pos .. '-0', pos .. '-0')[1] or erasedAt(KEYS[3], pos)
  if not g then return redis.error_reply('DGENT_CORRUPT stream index points at missing position ' .. tostring(pos)) end
  out[i] = g
end
return out
`);

/**
 * KEYS: all, erased. ARGV: after (a position), count. The global entries with position > after,
 * ascending, at most count, in XRANGE shape: the stored ones merged with the erased ones. A log
 * that never erased anything costs one ZRANGEBYSCORE of an absent key more than a plain XRANGE.
 */
export const READ_ALL = new LuaScript(`${ERASED_LUA}
local count = tonumber(ARGV[2])
local r = redis.call('XRANGE', KEYS[1], string.format('%d', tonumber(ARGV[1]) + 1) .. '-0', '+', 'COUNT', count)
local z = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf', 'LIMIT', 0, count)
if #z == 0 then return r end
local out = {}
local i, j = 1, 1
while #out < count and (i <= #r or j <= #z) do
  local e = r[i]
  local s = z[j] and stub(z[j])
  if s and (not e or tonumber(string.match(s[1], '^(%d+)-')) < tonumber(string.match(e[1], '^(%d+)-'))) then
    out[#out + 1] = s
    j = j + 1
  else
    out[#out + 1] = e
    i = i + 1
  end
end
return out
`);

/**
 * KEYS: all, index of the stream, erased. ARGV: before (a revision >= 1). Erases the stream's
 * events with revision < before, atomically: each one's global entry is deleted from `{p}:all`
 * (XDEL: the stream's last id, and so the order of later positions, stays) and its stream,
 * revision, id and time are kept in `{p}:erased`, so every read still returns it, as an event of
 * type dgent.erased without data or metadata, at its position. Returns how many were erased now
 * (events already erased, or stored with that type, are skipped).
 */
export const ERASE = new LuaScript(`
local before = tonumber(ARGV[1])
if before <= 1 then return 0 end
local idx = redis.call('XRANGE', KEYS[2], '-', string.format('%d', before - 1) .. '-0')
local n = 0
for _, e in ipairs(idx) do
  local pos = e[2][2]
  local g = redis.call('XRANGE', KEYS[1], pos .. '-0', pos .. '-0')[1]
  if g then
    local f = g[2]
    local h = {}
    for x = 1, #f, 2 do h[f[x]] = f[x + 1] end
    if h.t ~= '${ERASED_EVENT_TYPE}' then
      redis.call('ZADD', KEYS[3], pos, cjson.encode({pos, h.s, h.r, h.i, h.ts}))
      redis.call('XDEL', KEYS[1], pos .. '-0')
      n = n + 1
    end
  elseif redis.call('ZCOUNT', KEYS[3], pos, pos) == 0 then
    return redis.error_reply('DGENT_CORRUPT stream index points at missing position ' .. tostring(pos))
  end
end
return n
`);
