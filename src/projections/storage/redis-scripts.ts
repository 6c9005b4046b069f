/**
 * The Lua scripts of Redis views. Every write a runner makes is one script that first checks the
 * lease token (fencing: a runner that lost its lease can never write) and the generation it
 * writes, so a batch and its checkpoint land together or not at all. KEYS[1] is the lease, KEYS[2]
 * the control hash; every key of a projection carries its hash tag, so they share a cluster slot.
 */
import { LuaScript } from '../../agents/redis/client.js';

const FENCE = `
if ARGV[1] ~= '' then
  if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('DGENT_LEASE_LOST') end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end`;

/** ARGV: owner ('' = unfenced), ttl, slot ('active'|'building'), generation, position, ncommands, then per command: argc, args... */
export const COMMIT = new LuaScript(`${FENCE}
local active = ARGV[3] == 'active'
if redis.call('HGET', KEYS[2], active and 'generation' or 'b_generation') ~= ARGV[4] then return redis.error_reply('DGENT_LEASE_LOST') end
local i = 7
for c = 1, tonumber(ARGV[6]) do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
redis.call('HSET', KEYS[2], active and 'position' or 'b_position', ARGV[5])
return 1`);

/** ARGV: owner, ttl, generation, version */
export const BEGIN_BUILD = new LuaScript(`${FENCE}
redis.call('HSET', KEYS[2], 'b_generation', ARGV[3], 'b_version', ARGV[4], 'b_position', 0)
return 1`);

/** ARGV: owner, ttl, generation. Returns 1 when switched, 0 when the building generation is behind. */
export const SWITCH = new LuaScript(`${FENCE}
local c = redis.call('HGETALL', KEYS[2])
local h = {}
for i = 1, #c, 2 do h[c[i]] = c[i + 1] end
if h.b_generation ~= ARGV[3] then return redis.error_reply('DGENT_NOT_BUILDING') end
local b = tonumber(h.b_position)
if b < tonumber(h.position) or b < tonumber(h.seen) then return 0 end
redis.call('HSET', KEYS[2], 'generation', h.b_generation, 'version', h.b_version, 'position', h.b_position)
redis.call('HDEL', KEYS[2], 'b_generation', 'b_version', 'b_position')
return 1`);

/** KEYS[1] the lease. ARGV: owner, ttl. 1 when held by owner afterwards. */
export const ACQUIRE = new LuaScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`);

/** KEYS[1] the lease. ARGV: owner. */
export const RELEASE = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`);
