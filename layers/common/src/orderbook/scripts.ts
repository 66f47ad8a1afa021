// Redis Lua scripts: each engine command is one script execution, so concurrent clients never interleave
// inside a match. Every key of a symbol carries the hash tag {SYMBOL} and is passed in KEYS (cluster-safe):
//
//   KEYS[1] bids    zset, score 0, member = priceKey(16) .. seq(16) .. orderId  (lex order = price-time priority)
//   KEYS[2] asks    same; the bid price key is INV - price so that ascending lex order is best price first
//   KEYS[3] bidlv   zset of bid price levels, score = member = price in ticks
//   KEYS[4] asklv   zset of ask price levels
//   KEYS[5] lvq     hash "B<ticks>" / "S<ticks>" -> resting lots at that level
//   KEYS[6] orders  hash orderId -> live order record
//   KEYS[7] meta    hash cseq (command sequence), oseq, tseq, last (trade price), gen, gents
//   KEYS[8] gen0    hash of retained records: "r:<id>" submit results, "x:<id>" cancel results,
//   KEYS[9] gen1        "o:<id>" terminal orders. Two generations rotate every TTL: retention is TTL..2*TTL.
//
// Order record: side|type|price|qty|filled|cancelled|status|seq|notional|lastTradeSeq|submittedAt|version|clientId
//   (price in ticks, sizes in lots, notional = sum of price ticks * lots over the order's fills, a digit string)
// Reply: flag "N" (new) | "R" (replayed) | "X" (id reused with other content), then "\n" and the result:
//   reason|version|side|qty|filled|cancelled|timestamp|detail   (the command's outcome: see engine.ts decode)
//   the order's record after the command ("" for a rejection: the result's status is the record's, or REJECTED)
//   one line per trade: seq|price|qty|makerOrderId|<the maker's record after the command>
// Integers stay below 10^15 (validated before the call), so Lua's doubles hold them exactly; products of two
// of them (notionals, price bands) use the limb arithmetic below.

export const BOOK_KEY_NAMES = ["bids", "asks", "bidlv", "asklv", "lvq", "orders", "meta", "gen0", "gen1"] as const;

export function bookKeys(symbol: string): string[] {
  return BOOK_KEY_NAMES.map((name) => `tf:{${symbol}}:${name}`);
}

/** The key that claims an order id for one symbol: order ids are unique across symbols. */
export function orderIdKey(orderId: string): string {
  return `tf:oid:{${orderId}}`;
}

const PRELUDE = `
local INV = 1000000000000000
local function fmt(n) return string.format('%d', n) end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Exact non-negative integers of any size as little-endian limbs of base 10^7: a limb product plus carries
-- stays below 10^15, inside the 2^53 a double holds exactly.
local BASE = 10000000
local function big(v)
  local s, r = type(v) == 'string' and v or fmt(v), {}
  for i = #s, 1, -7 do r[#r + 1] = tonumber(string.sub(s, math.max(1, i - 6), i)) end
  return r
end
local function big_str(a)
  local out = { fmt(a[#a]) }
  for i = #a - 1, 1, -1 do out[#out + 1] = string.format('%07d', a[i]) end
  return table.concat(out)
end
local function big_add(a, b)
  local r, carry = {}, 0
  for i = 1, math.max(#a, #b) do
    local t = (a[i] or 0) + (b[i] or 0) + carry
    carry = t >= BASE and 1 or 0
    r[i] = t - carry * BASE
  end
  if carry > 0 then r[#r + 1] = carry end
  return r
end
local function big_mul(a, b)
  local r = {}
  for i = 1, #a + #b do r[i] = 0 end
  for i = 1, #a do
    local carry = 0
    for j = 1, #b do
      local t = r[i + j - 1] + a[i] * b[j] + carry
      carry = math.floor(t / BASE)
      r[i + j - 1] = t - carry * BASE
    end
    r[i + #b] = carry
  end
  while #r > 1 and r[#r] == 0 do r[#r] = nil end
  return r
end
local function big_cmp(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  for i = #a, 1, -1 do
    if a[i] ~= b[i] then return a[i] < b[i] and -1 or 1 end
  end
  return 0
end
-- Products of two integers: plain doubles while they stay below 2^53, where doubles are exact (a product at or
-- above it rounds to at least 2^53, so the test is safe), limbs above. Arguments may be digit strings.
local SAFE = 9007199254740992
local function cmp_products(a, b, c, d)
  local x, y = tonumber(a) * tonumber(b), tonumber(c) * tonumber(d)
  if x < SAFE and y < SAFE then return x < y and -1 or (x > y and 1 or 0) end
  return big_cmp(big_mul(big(a), big(b)), big_mul(big(c), big(d)))
end
-- Returns the current and previous generation keys, rotating when the current one is older than the TTL, and
-- the symbol's sequences.
local function generations(now, ttl_ms)
  local m = redis.call('HMGET', KEYS[7], 'gen', 'gents', 'oseq', 'tseq', 'last', 'cseq')
  local gen = tonumber(m[1]) or 0
  local gents = tonumber(m[2])
  if not gents or now - gents >= ttl_ms then
    if gents then
      gen = 1 - gen
      redis.call('UNLINK', KEYS[8 + gen])
    end
    redis.call('HSET', KEYS[7], 'gen', gen, 'gents', fmt(now))
  end
  local meta = { oseq = tonumber(m[3]) or 0, tseq = tonumber(m[4]) or 0, last = m[5], cseq = tonumber(m[6]) or 0 }
  return KEYS[8 + gen], KEYS[9 - gen], meta
end
local function save_meta(meta)
  local fields = { 'cseq', fmt(meta.cseq), 'oseq', fmt(meta.oseq), 'tseq', fmt(meta.tseq) }
  if meta.last then fields[7], fields[8] = 'last', meta.last end
  redis.call('HSET', KEYS[7], unpack(fields))
end
local function retained(cur, old, field)
  return redis.call('HGET', cur, field) or redis.call('HGET', old, field)
end
local function parse(rec)
  local s, t, p, q, f, c, st, sq, n, ls, ts, v, cl = string.match(rec,
    '^(%a)|(%a)|(%d+)|(%d+)|(%d+)|(%d+)|(%a)|(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|(.*)$')
  return { side = s, type = t, price = tonumber(p), qty = tonumber(q), filled = tonumber(f),
           cancelled = tonumber(c), status = st, seq = tonumber(sq), notional = n, lseq = tonumber(ls),
           ts = tonumber(ts), version = tonumber(v), client = cl }
end
local function pack(o)
  return table.concat({ o.side, o.type, fmt(o.price), fmt(o.qty), fmt(o.filled), fmt(o.cancelled), o.status,
                        fmt(o.seq), o.notional, fmt(o.lseq), fmt(o.ts), fmt(o.version), o.client }, '|')
end
local function add_fill(o, price, lots, trade_seq, version)
  o.filled = o.filled + lots
  local sum = tonumber(o.notional) + price * lots
  if sum < SAFE then o.notional = fmt(sum)
  else o.notional = big_str(big_add(big(o.notional), big_mul(big(price), big(lots)))) end
  o.lseq, o.version = trade_seq, version
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
local function head(o, version, ts)
  return table.concat({ o.reason or '', fmt(version), o.side, fmt(o.qty), fmt(o.filled),
                        fmt(o.cancelled), fmt(ts), o.detail or '' }, '|')
end
`;

/** ARGV: orderId, clientId, side B|S, type L|M, price ticks (0 for market), qty lots, tif G|I|F, postOnly 1|0,
 *  timestamp ms or "", ttl seconds, fingerprint, price band bps, max market notional in tick*lot units. */
export const SUBMIT_SCRIPT = `${PRELUDE}
local id, client, side, otype = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local price, qty, tif, post_only = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], ARGV[8] == '1'
local now = now_ms()
local ts = tonumber(ARGV[9]) or now
local cur, old, meta = generations(now, tonumber(ARGV[10]) * 1000)
local fingerprint = ARGV[11]
local band_bps, max_notional = tonumber(ARGV[12]), ARGV[13]

local seen = retained(cur, old, 'r:' .. id)
if seen then
  local nl = string.find(seen, '\\n', 1, true)
  if string.sub(seen, 1, nl - 1) == fingerprint then return 'R\\n' .. string.sub(seen, nl + 1) end
  return 'X'
end
if redis.call('HEXISTS', KEYS[6], id) == 1 then return 'X' end
meta.cseq = meta.cseq + 1
local version = meta.cseq

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

local o = { side = side, type = otype, price = price, qty = qty, filled = 0, cancelled = 0, status = 'N', seq = 0,
            notional = '0', lseq = 0, ts = ts, version = version, client = client }
local function finish(record, trades)
  save_meta(meta)
  local result = head(o, version, ts) .. '\\n' .. record .. trades
  redis.call('HSET', cur, 'r:' .. id, fingerprint .. '\\n' .. result)
  return 'N\\n' .. result
end
local function refuse(reason, detail)
  o.reason, o.detail = reason, detail
  return finish('', '')
end

-- Band and market notional are checked against the engine's own last trade price, inside the script, so a
-- redelivered command is decided exactly as the first time.
local last = meta.last
if last and not is_market then
  local below = cmp_products(price, 10000, last, math.max(0, 10000 - band_bps)) < 0
  if below or cmp_products(price, 10000, last, 10000 + band_bps) > 0 then
    return refuse('PRICE_OUTSIDE_BAND', last .. ':' .. ARGV[12])
  end
elseif last and cmp_products(last, qty, max_notional, 1) > 0 then
  return refuse('NOTIONAL_TOO_LARGE', last .. ':' .. max_notional)
end

local best = redis.call('ZRANGE', opp, 0, 0)[1]
if post_only and best and crosses(opp_price(best)) then return refuse('POST_ONLY_WOULD_CROSS') end

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
  if available < qty then return refuse('FOK_NOT_FILLABLE') end
end

local trades = {}
while o.filled < qty and best do
  local p = opp_price(best)
  if not crosses(p) then break end
  local maker_id = string.sub(best, 33)
  local maker = parse(redis.call('HGET', KEYS[6], maker_id))
  local fill = math.min(qty - o.filled, maker.qty - maker.filled - maker.cancelled)
  meta.tseq = meta.tseq + 1
  add_fill(maker, p, fill, meta.tseq, version)
  add_fill(o, p, fill, meta.tseq, version)
  if maker.filled + maker.cancelled == maker.qty then
    maker.status = 'F'
    redis.call('ZREM', opp, best)
    redis.call('HDEL', KEYS[6], maker_id)
    redis.call('HSET', cur, 'o:' .. maker_id, pack(maker))
  else
    maker.status = 'P'
    redis.call('HSET', KEYS[6], maker_id, pack(maker))
  end
  level_take(opp_side, p, fill)
  trades[#trades + 1] = table.concat({ fmt(meta.tseq), fmt(p), fmt(fill), maker_id, pack(maker) }, '|')
  meta.last = fmt(p)
  if o.filled < qty then best = redis.call('ZRANGE', opp, 0, 0)[1] end
end

local remaining = qty - o.filled
if remaining > 0 and not is_market and tif == 'G' then
  meta.oseq = meta.oseq + 1
  o.seq = meta.oseq
  o.status = o.filled > 0 and 'P' or 'N'
  local own, own_lv = side_keys(side)
  redis.call('ZADD', own, 0, member(side, price, o.seq, id))
  if redis.call('HINCRBY', KEYS[5], side .. fmt(price), remaining) == remaining then
    redis.call('ZADD', own_lv, price, fmt(price))
  end
  redis.call('HSET', KEYS[6], id, pack(o))
else
  o.cancelled = remaining
  o.status = remaining == 0 and 'F' or 'C'
  redis.call('HSET', cur, 'o:' .. id, pack(o))
end
return finish(pack(o), #trades > 0 and ('\\n' .. table.concat(trades, '\\n')) or '')
`;

/** ARGV: orderId, clientId, commandId, timestamp ms or "", ttl seconds. Every outcome is kept under the
 *  command id, rejections too, so a replayed cancel can never act differently from the first delivery. */
export const CANCEL_SCRIPT = `${PRELUDE}
local id, client, command_id = ARGV[1], ARGV[2], ARGV[3]
local now = now_ms()
local ts = tonumber(ARGV[4]) or now
local cur, old, meta = generations(now, tonumber(ARGV[5]) * 1000)
local fingerprint = client .. '|' .. id

local seen = retained(cur, old, 'x:' .. command_id)
if seen then
  local nl = string.find(seen, '\\n', 1, true)
  if string.sub(seen, 1, nl - 1) == fingerprint then return 'R\\n' .. string.sub(seen, nl + 1) end
  return 'X'
end
meta.cseq = meta.cseq + 1
local version = meta.cseq
local function finish(o, record)
  save_meta(meta)
  local result = head(o, version, ts) .. '\\n' .. record
  redis.call('HSET', cur, 'x:' .. command_id, fingerprint .. '\\n' .. result)
  return 'N\\n' .. result
end
-- Says nothing about the order: another client learns neither its side nor its sizes.
local function refuse(reason)
  return finish({ reason = reason, side = '', qty = 0, filled = 0, cancelled = 0 }, '')
end

local rec = redis.call('HGET', KEYS[6], id)
local o
if rec then
  o = parse(rec)
else
  local done = retained(cur, old, 'o:' .. id)
  if not done then return refuse('UNKNOWN_ORDER') end
  o = parse(done)
end
if o.client ~= client then return refuse('NOT_ORDER_OWNER') end
if not rec then
  o.reason = 'ORDER_NOT_OPEN'
  return finish(o, '')
end

local left = o.qty - o.filled - o.cancelled
local own = side_keys(o.side)
redis.call('ZREM', own, member(o.side, o.price, o.seq, id))
level_take(o.side, o.price, left)
o.cancelled = o.cancelled + left
o.status, o.version = 'C', version
redis.call('HDEL', KEYS[6], id)
redis.call('HSET', cur, 'o:' .. id, pack(o))
return finish(o, pack(o))
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
