package redisstore

import "github.com/redis/go-redis/v9"

// The scripts run atomically on the server, each in one round trip
// (EVALSHA, then EVAL once if the server lost its script cache). Every key
// a script touches is passed in KEYS and carries the connector's hash tag,
// so the scripts run on Redis Cluster too.
//
// Per connector, with tag T = prefix+"{"+connector+"}":
//
//	T:fence     counter: the last fencing token; set, when missing, to the server's time in µs
//	T:lru       sorted set: key name -> fencing token of its last lease (least recently used first)
//	T:leases    sorted set: "token:key" -> expiry, server milliseconds
//	T:inflight  hash: key name -> leases in force
//	T:quiet     present, after the fence counter was found missing, until the server has been up one TTL (restart guard)
//	T:state     the core's encoded state (names and times only, never a key value)
//	T:ver       counter: bumped by every write of T:state
//	T:budget:NAME:START  a budget counter in the window starting at START (ms); expires when it ends
//
// Times come from the server's TIME, so clients' clocks never matter.

// common is prepended to every script: the server's time in milliseconds,
// and the reaping of lapsed leases.
const common = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function reap(leases, inflight)
  local dead = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, 512)
  for _, m in ipairs(dead) do
    local k = string.match(m, '^%d+:(.*)$')
    if k and redis.call('HINCRBY', inflight, k, -1) <= 0 then
      redis.call('HDEL', inflight, k)
    end
  end
  if #dead > 0 then
    redis.call('ZREM', leases, unpack(dead))
  end
end
local function ver(k)
  return redis.call('GET', k) or '0'
end
`

// acquireScript leases one slot of the least recently used key among
// the names in ARGV[4] (one per line) with fewer than ARGV[2] leases in
// force. One argument rather than one per name: a thousand keys cost the
// client one string, not a thousand.
//
// KEYS: fence, lru, leases, inflight, quiet, ver.
// ARGV: ttl ms, slots, quiet ms, key names joined by newlines.
// Returns {token or 0, key or "", sec, µs, ver}.
var acquireScript = redis.NewScript(common + `
if redis.call('EXISTS', KEYS[1]) == 0 then
  -- No counter: a new connector, or a Redis that lost its data (restart
  -- without persistence). Leases granted before the restart may still be
  -- in use: grant none until the server has been up for one TTL.
  -- A server up for longer than that lost nothing a live lease needs.
  redis.call('SET', KEYS[1], string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2])))
  local quiet = tonumber(ARGV[3])
  if quiet > 0 then
    -- Whole seconds between two truncated times: the server may have been
    -- up for one second less than it says.
    local up = tonumber(string.match(redis.call('INFO', 'server'), 'uptime_in_seconds:(%d+)')) or 0
    local left = quiet - math.max(up - 1, 0) * 1000
    if left > 0 then
      redis.call('SET', KEYS[5], '1', 'PX', left)
    end
  end
end
local v = ver(KEYS[6])
if redis.call('EXISTS', KEYS[5]) == 1 then
  return {0, '', t[1], t[2], v}
end
reap(KEYS[3], KEYS[4])
local slots = tonumber(ARGV[2])
local all = {}
for n in string.gmatch(ARGV[4], '[^\n]+') do
  all[#all + 1] = n
end
local best, bestScore = nil, nil
local i = 1
while i <= #all do
  local j = math.min(i + 999, #all)
  local names = {unpack(all, i, j)}
  local counts = redis.call('HMGET', KEYS[4], unpack(names))
  local scores = redis.call('ZMSCORE', KEYS[2], unpack(names))
  for n = 1, #names do
    if (tonumber(counts[n]) or 0) < slots then
      local s = tonumber(scores[n]) or 0
      if best == nil or s < bestScore then
        best, bestScore = names[n], s
      end
    end
  end
  i = j + 1
end
if best == nil then
  return {0, '', t[1], t[2], v}
end
local tok = redis.call('INCR', KEYS[1])
local stok = string.format('%.0f', tok)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[1]), stok .. ':' .. best)
redis.call('HINCRBY', KEYS[4], best, 1)
redis.call('ZADD', KEYS[2], tok, best)
return {tok, best, t[1], t[2], v}
`)

// renewScript extends a lease still in force by ARGV[2] ms; a lapsed or
// unknown one is refused (and its slot freed, if not yet reaped).
//
// KEYS: leases, inflight, ver. ARGV: member, ttl ms.
// Returns {1 renewed | 0 refused, sec, µs, ver}.
var renewScript = redis.NewScript(common + `
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
local v = ver(KEYS[3])
if not s then
  return {0, t[1], t[2], v}
end
if tonumber(s) <= now then
  reap(KEYS[1], KEYS[2])
  return {0, t[1], t[2], v}
end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
return {1, t[1], t[2], v}
`)

// releaseScript ends a lease: the slot it counts in is freed.
//
// KEYS: leases, inflight, ver. ARGV: member, key name.
// Returns {1 released | 2 released but had lapsed | 0 unknown (reaped), sec, µs, ver}.
var releaseScript = redis.NewScript(common + `
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
local v = ver(KEYS[3])
if not s then
  return {0, t[1], t[2], v}
end
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('HINCRBY', KEYS[2], ARGV[2], -1) <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[2])
end
if tonumber(s) <= now then
  return {2, t[1], t[2], v}
end
return {1, t[1], t[2], v}
`)

// inFlightScript counts the leases in force of keys ARGV[1:].
//
// KEYS: leases, inflight, ver. Returns {sec, µs, ver, count...}.
var inFlightScript = redis.NewScript(common + `
reap(KEYS[1], KEYS[2])
local out = {t[1], t[2], ver(KEYS[3])}
local i = 1
while i <= #ARGV do
  local j = math.min(i + 999, #ARGV)
  local counts = redis.call('HMGET', KEYS[2], unpack(ARGV, i, j))
  for n = 1, j - i + 1 do
    out[#out + 1] = tonumber(counts[n]) or 0
  end
  i = j + 1
end
return out
`)

// loadScript reads the state unless the caller's copy, of version
// ARGV[1], is current.
//
// KEYS: ver, state. Returns {sec, µs, ver, state or false}.
var loadScript = redis.NewScript(common + `
local v = ver(KEYS[1])
if v == ARGV[1] then
  return {t[1], t[2], v}
end
return {t[1], t[2], v, redis.call('GET', KEYS[2])}
`)

// spendScript adds ARGV[1] to every budget counter of KEYS[2:] if each
// then stays within its limit, else adds nothing. A counter's value that
// is not a count (negative, garbage, beyond INCRBY) is read as 0, or as
// spent if a huge number, and written over: no spend past a limit, and no
// error halfway through the counters. A counter's key names
// its window's start, and expires at the window's end, or a window's
// length from now if that end passed on the server's clock (a simulated
// clock may run behind it).
//
// KEYS: ver, counters... ARGV: n, then per counter: limit (0: none),
// window end ms, window length ms.
// Returns {1 spent | 0 refused, sec, µs, ver, count...}.
var spendScript = redis.NewScript(common + `
local n = tonumber(ARGV[1])
local counts = {}
local set = {} -- a damaged count: written over, not added to
local ok = 1
for i = 2, #KEYS do
  local raw = redis.call('GET', KEYS[i]) or '0'
  local c = 0
  if not string.match(raw, '^%d+$') then
    set[i] = true -- negative, or not a count: read as lost
  elseif #raw > 15 then
    c, set[i] = 1e15, true -- beyond any budget, and INCRBY's range
  else
    c = tonumber(raw)
  end
  counts[i - 1] = c
  local limit = tonumber(ARGV[3 * (i - 2) + 2])
  if n > 0 and limit > 0 and c + n > limit then
    ok = 0
  end
end
if ok == 1 and n > 0 then
  for i = 2, #KEYS do
    if set[i] then
      counts[i - 1] = counts[i - 1] + n
      redis.call('SET', KEYS[i], string.format('%.0f', counts[i - 1]))
    else
      counts[i - 1] = redis.call('INCRBY', KEYS[i], n)
    end
    local at = tonumber(ARGV[3 * (i - 2) + 3])
    if at <= now then
      at = now + tonumber(ARGV[3 * (i - 2) + 4])
    end
    redis.call('PEXPIREAT', KEYS[i], string.format('%.0f', at))
  end
end
local out = {ok, t[1], t[2], ver(KEYS[1])}
for i = 1, #counts do
  out[#out + 1] = counts[i]
end
return out
`)
