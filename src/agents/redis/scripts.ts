/**
 * Lua scripts of RedisAgent. One agent is one Redis list, newest first; each entry is
 * `<version>:<epoch ms>:<encoded state>`. The head is the current state, so `load()` is one LINDEX.
 * Versions in the list are consecutive, so the entry of version v sits at index (head - v).
 */
import { LuaScript } from './client.js';

/**
 * KEYS[1] list. ARGV: encoded state, expected version ('' = any), maxHistory, ttl ms ('0' = none),
 * channel ('' = do not publish). Checks the version and writes in one atomic step.
 * Returns {1, version, ms} or {0, actual} on a conflict. No write happens before the checks, so
 * a failure never leaves a partial write.
 */
export const SAVE = new LuaScript(`
local head = redis.call('LINDEX', KEYS[1], 0)
local cur, prevMs = 0, 0
if head then
  local v, t = string.match(head, '^(%d+):(%d+):')
  if not v then return redis.error_reply('DGENT_CORRUPT head entry has no version header') end
  cur, prevMs = tonumber(v), tonumber(t)
end
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= cur then return {0, cur} end
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
-- times never go backwards within one agent, so loadAt({ time }) can rely on the order
if ms < prevMs then ms = prevMs end
local version = cur + 1
local entry = string.format('%d:%d:', version, ms) .. ARGV[1]
redis.call('LPUSH', KEYS[1], entry)
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[3]) - 1)
if ARGV[4] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[5], entry) end
return {1, version, ms}
`);

/** KEYS[1] list, ARGV[1] ttl ms: the head entry, extending the TTL when there is one (sliding expiry). */
export const LOAD_REFRESH = new LuaScript(`
local head = redis.call('LINDEX', KEYS[1], 0)
if head then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return head
`);

/** KEYS[1] list, ARGV[1] version: the entry of that version, or nil when it is newer than the head or trimmed. */
export const AT_VERSION = new LuaScript(`
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then return false end
local cur = tonumber(string.match(head, '^(%d+):'))
if not cur then return redis.error_reply('DGENT_CORRUPT head entry has no version header') end
local want = tonumber(ARGV[1])
if want > cur then return false end
return redis.call('LINDEX', KEYS[1], cur - want)
`);

/** KEYS[1] list, ARGV[1] epoch ms: the newest entry saved at or before that time, or nil. */
export const AT_TIME = new LuaScript(`
local want = tonumber(ARGV[1])
local n = redis.call('LLEN', KEYS[1])
local i = 0
while i < n do
  local chunk = redis.call('LRANGE', KEYS[1], i, i + 63)
  for _, e in ipairs(chunk) do
    local t = tonumber(string.match(e, '^%d+:(%d+):'))
    if not t then return redis.error_reply('DGENT_CORRUPT history entry has no time header') end
    if t <= want then return e end
  end
  i = i + 64
end
return false
`);
