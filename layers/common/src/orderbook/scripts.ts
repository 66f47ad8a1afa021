// Redis Lua scripts: each engine command is one script execution, so concurrent clients never interleave
// inside a match. Every key of a symbol carries the hash tag {SYMBOL} and is passed in KEYS (cluster-safe):
//
//   KEYS[1] bids    zset, score 0, member = priceKey(16) .. seq(16) .. orderId  (lex order = price-time priority)
//   KEYS[2] asks    same; the bid price key is INV - price so that ascending lex order is best price first
//   KEYS[3] bidlv   zset of bid price levels, score = member = price in ticks
//   KEYS[4] asklv   zset of ask price levels
//   KEYS[5] lvq     hash "B<ticks>" / "S<ticks>" -> resting lots at that level
//   KEYS[6] orders  hash orderId -> live order record
//   KEYS[7] meta    hash oseq, tseq, last (trade price), gen, gents
//   KEYS[8] gen0    hash of retained records: "r:<id>" submit results, "x:<id>" cancel results,
//   KEYS[9] gen1        "o:<id>" terminal orders. Two generations rotate every TTL: retention is TTL..2*TTL.
//
// Order record: side|type|price|qty|filled|cancelled|status|seq|clientId   (integers: ticks, lots)
// Reply: flag "N" (new) | "R" (replayed) | "X" (id reused with other content), then "\n" and the result:
//   status|reason|side|type|price|qty|filled|cancelled|timestamp, then one line per trade:
//   seq|price|qty|makerOrderId|makerClientId|makerRemaining
// Integers stay below 10^15 (validated before the call), so Lua's doubles hold them exactly.

export const BOOK_KEY_NAMES = ["bids", "asks", "bidlv", "asklv", "lvq", "orders", "meta", "gen0", "gen1"] as const;

export function bookKeys(symbol: string): string[] {
  return BOOK_KEY_NAMES.map((name) => `tf:{${symbol}}:${name}`);
}

const PRELUDE = `
local INV = 1000000000000000
local function fmt(n) return string.format('%d', n) end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Returns the current and previous generation keys, rotating when the current one is older than the TTL.
local function generations(now, ttl_ms)
  local m = redis.call('HMGET', KEYS[7], 'gen', 'gents', 'oseq', 'tseq', 'last')
  local gen = tonumber(m[1]) or 0
  local gents = tonumber(m[2])
  if not gents or now - gents >= ttl_ms then
    if gents then
      gen = 1 - gen
      redis.call('UNLINK', KEYS[8 + gen])
    end
    redis.call('HSET', KEYS[7], 'gen', gen, 'gents', fmt(now))
  end
  return KEYS[8 + gen], KEYS[9 - gen], tonumber(m[3]) or 0, tonumber(m[4]) or 0, m[5]
end
local function retained(cur, old, field)
  return redis.call('HGET', cur, field) or redis.call('HGET', old, field)
end
local function parse(rec)
  local s, t, p, q, f, c, st, sq, cl = string.match(rec, '^(%a)|(%a)|(%d+)|(%d+)|(%d+)|(%d+)|(%a)|(%d+)|(.*)$')
  return { side = s, type = t, price = tonumber(p), qty = tonumber(q), filled = tonumber(f),
           cancelled = tonumber(c), status = st, seq = tonumber(sq), client = cl }
end
local function pack(o)
  return table.concat({ o.side, o.type, fmt(o.price), fmt(o.qty), fmt(o.filled), fmt(o.cancelled), o.status,
                        fmt(o.seq), o.client }, '|')
end
local function member(side, price, seq, id)
  local key = side == 'B' and INV - price or price
  return string.format('%016d%016d', key, seq) .. id
end
local function side_keys(side)
  if side == 'B' then return KEYS[1], KEYS[3] end
  return KEYS[2], KEYS[4]
end
-- Takes lots off a price level; drops the level when it empties.
local function level_take(side, price, lots)
  local field = side .. fmt(price)
  if redis.call('HINCRBY', KEYS[5], field, -lots) <= 0 then
    redis.call('HDEL', KEYS[5], field)
    local _, lv = side_keys(side)
    redis.call('ZREM', lv, fmt(price))
  end
end
local function head(o)
  return table.concat({ o.status, o.reason or '', o.side, o.type, fmt(o.price), fmt(o.qty), fmt(o.filled),
                        fmt(o.cancelled), fmt(o.ts) }, '|')
end
`;

/** ARGV: orderId, clientId, side B|S, type L|M, price ticks (0 for market), qty lots, tif G|I|F, postOnly 1|0,
 *  timestamp ms or "", ttl seconds, fingerprint. */
export const SUBMIT_SCRIPT = `${PRELUDE}
local id, client, side, otype = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local price, qty, tif, post_only = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], ARGV[8] == '1'
local now = now_ms()
local ts = tonumber(ARGV[9]) or now
local cur, old, oseq, tseq, last = generations(now, tonumber(ARGV[10]) * 1000)
local fingerprint = ARGV[11]

local seen = retained(cur, old, 'r:' .. id)
if seen then
  local nl = string.find(seen, '\\n', 1, true)
  if string.sub(seen, 1, nl - 1) == fingerprint then return 'R\\n' .. string.sub(seen, nl + 1) end
  return 'X'
end
if redis.call('HEXISTS', KEYS[6], id) == 1 then return 'X' end

local opp_side = side == 'B' and 'S' or 'B'
local opp = side == 'B' and KEYS[2] or KEYS[1]
local is_market = otype == 'M'
local function opp_price(m)
  local key = tonumber(string.sub(m, 1, 16))
  return opp_side == 'B' and INV - key or key
end
local function crosses(p)
  if is_market then return true end
  if side == 'B' then return p <= price end
  return p >= price
end

local o = { side = side, type = otype, price = price, qty = qty, filled = 0, cancelled = 0, status = 'N',
            seq = 0, client = client, ts = ts }
local function finish(lines)
  local result = head(o) .. lines
  redis.call('HSET', cur, 'r:' .. id, fingerprint .. '\\n' .. result)
  return 'N\\n' .. result
end

local best = redis.call('ZRANGE', opp, 0, 0)[1]
if post_only and best and crosses(opp_price(best)) then
  o.status, o.reason, o.cancelled = 'R', 'POST_ONLY_WOULD_CROSS', 0
  return finish('')
end

if tif == 'F' then
  local _, opp_lv = side_keys(opp_side)
  local available, offset = 0, 0
  while available < qty do
    local levels
    if side == 'B' then
      levels = redis.call('ZRANGE', opp_lv, '-inf', fmt(price), 'BYSCORE', 'LIMIT', offset, 32)
    else
      levels = redis.call('ZRANGE', opp_lv, '+inf', fmt(price), 'BYSCORE', 'REV', 'LIMIT', offset, 32)
    end
    if #levels == 0 then break end
    for i = 1, #levels do
      available = available + tonumber(redis.call('HGET', KEYS[5], opp_side .. levels[i]))
      if available >= qty then break end
    end
    offset = offset + #levels
  end
  if available < qty then
    o.status, o.reason = 'R', 'FOK_NOT_FILLABLE'
    return finish('')
  end
end

local trades = {}
local remaining = qty
while remaining > 0 and best do
  local p = opp_price(best)
  if not crosses(p) then break end
  local maker_id = string.sub(best, 33)
  local maker = parse(redis.call('HGET', KEYS[6], maker_id))
  local fill = math.min(remaining, maker.qty - maker.filled - maker.cancelled)
  maker.filled = maker.filled + fill
  remaining = remaining - fill
  tseq = tseq + 1
  local maker_left = maker.qty - maker.filled - maker.cancelled
  if maker_left == 0 then
    maker.status = 'F'
    redis.call('ZREM', opp, best)
    redis.call('HDEL', KEYS[6], maker_id)
    redis.call('HSET', cur, 'o:' .. maker_id, pack(maker))
  else
    maker.status = 'P'
    redis.call('HSET', KEYS[6], maker_id, pack(maker))
  end
  level_take(opp_side, p, fill)
  trades[#trades + 1] = table.concat({ fmt(tseq), fmt(p), fmt(fill), maker_id, maker.client, fmt(maker_left) }, '|')
  last = fmt(p)
  if remaining > 0 then best = redis.call('ZRANGE', opp, 0, 0)[1] end
end

o.filled = qty - remaining
if remaining > 0 and not is_market and tif == 'G' then
  oseq = oseq + 1
  o.seq = oseq
  o.status = o.filled > 0 and 'P' or 'N'
  local own, own_lv = side_keys(side)
  redis.call('ZADD', own, 0, member(side, price, oseq, id))
  if redis.call('HINCRBY', KEYS[5], side .. fmt(price), remaining) == remaining then
    redis.call('ZADD', own_lv, price, fmt(price))
  end
  redis.call('HSET', KEYS[6], id, pack(o))
else
  o.cancelled = remaining
  o.status = remaining == 0 and 'F' or 'C'
  redis.call('HSET', cur, 'o:' .. id, pack(o))
end
if #trades > 0 then
  redis.call('HSET', KEYS[7], 'oseq', fmt(oseq), 'tseq', fmt(tseq), 'last', last)
elseif o.seq > 0 then
  redis.call('HSET', KEYS[7], 'oseq', fmt(oseq))
end
return finish(#trades > 0 and ('\\n' .. table.concat(trades, '\\n')) or '')
`;

/** ARGV: orderId, clientId, commandId, timestamp ms or "", ttl seconds. Every outcome is kept under the
 *  command id, rejections too, so a replayed cancel can never act differently from the first delivery. */
export const CANCEL_SCRIPT = `${PRELUDE}
local id, client, command_id = ARGV[1], ARGV[2], ARGV[3]
local now = now_ms()
local ts = tonumber(ARGV[4]) or now
local cur, old = generations(now, tonumber(ARGV[5]) * 1000)
local fingerprint = client .. '|' .. id

local seen = retained(cur, old, 'x:' .. command_id)
if seen then
  local nl = string.find(seen, '\\n', 1, true)
  if string.sub(seen, 1, nl - 1) == fingerprint then return 'R\\n' .. string.sub(seen, nl + 1) end
  return 'X'
end
local function finish(o)
  local result = head(o)
  redis.call('HSET', cur, 'x:' .. command_id, fingerprint .. '\\n' .. result)
  return 'N\\n' .. result
end

local rec = redis.call('HGET', KEYS[6], id)
local o
if rec then
  o = parse(rec)
else
  local done = retained(cur, old, 'o:' .. id)
  if not done then
    return finish({ status = 'R', reason = 'UNKNOWN_ORDER', side = '', type = '', price = 0, qty = 0,
                    filled = 0, cancelled = 0, ts = ts })
  end
  o = parse(done)
  o.status, o.reason = 'R', o.client == client and 'ORDER_NOT_OPEN' or 'NOT_ORDER_OWNER'
end
o.ts = ts
if o.status == 'R' then return finish(o) end
if o.client ~= client then
  o.status, o.reason = 'R', 'NOT_ORDER_OWNER'
  return finish(o)
end

local left = o.qty - o.filled - o.cancelled
local own = side_keys(o.side)
redis.call('ZREM', own, member(o.side, o.price, o.seq, id))
level_take(o.side, o.price, left)
o.cancelled = o.cancelled + left
o.status = 'C'
redis.call('HDEL', KEYS[6], id)
redis.call('HSET', cur, 'o:' .. id, pack(o))
return finish(o)
`;

/** ARGV: levels. Returns { bids, asks, last, tseq }; each side a flat list price, lots, orders. */
export const DEPTH_SCRIPT = `
local INV = 1000000000000000
local n = tonumber(ARGV[1])
local function side(lv, book, code, rev)
  local prices
  if rev then prices = redis.call('ZRANGE', lv, '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, n)
  else prices = redis.call('ZRANGE', lv, 0, n - 1) end
  local out = {}
  for i = 1, #prices do
    local p = tonumber(prices[i])
    local key = string.format('%016d', code == 'B' and INV - p or p)
    out[#out + 1] = prices[i]
    out[#out + 1] = redis.call('HGET', KEYS[5], code .. prices[i])
    out[#out + 1] = redis.call('ZLEXCOUNT', book, '[' .. key, '(' .. key .. '~')
  end
  return out
end
local meta = redis.call('HMGET', KEYS[7], 'last', 'tseq')
return { side(KEYS[3], KEYS[1], 'B', true), side(KEYS[4], KEYS[2], 'S', false), meta[1] or '', meta[2] or '0' }
`;

/** ARGV: orderId. Returns the live or retained order record, or nil. */
export const LOOKUP_SCRIPT = `
local id = ARGV[1]
return redis.call('HGET', KEYS[6], id) or redis.call('HGET', KEYS[8], 'o:' .. id)
  or redis.call('HGET', KEYS[9], 'o:' .. id)
`;
