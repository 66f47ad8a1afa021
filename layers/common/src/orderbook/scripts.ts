import { createHash } from "node:crypto";
import { CANDLE_INTERVALS, DAY_MS } from "./types";

// The engine's Redis Functions library, in Lua: each engine command is one function call (FCALL), atomic like a
// script, so concurrent clients never interleave inside a match. Every key of a symbol carries the hash tag
// {SYMBOL} and is passed in KEYS (cluster-safe):
//
//   KEYS[1] book    hash: "~" the symbol's sequences and prices (META below); "#B<ticks>" / "#S<ticks>" resting lots
//                   at a price level; <orderId> a live order's record. Ids never start with "~" or "#".
//   KEYS[2] bids    zset, score 0, member = priceKey(16) .. seq(16) .. orderId  (lex order = price-time priority;
//   KEYS[3] asks        the bid price key is INV - price so that ascending lex order is best price first). A price
//                   level is a range of members: its first member gives the next best price, and depth walks them.
//   KEYS[4] owners  zset, score 0, member = clientId .. "|" .. orderId of every live order (mass cancel)
//   KEYS[5] gen0    hash "o:<id>" -> record of a terminal order. The two generations rotate every TTL, so a
//   KEYS[6] gen1        terminal order is kept TTL..2*TTL.
//   KEYS[7] result  string: the command's stored result (fingerprint "\n" result), EX TTL. tf:{S}:r:<orderId> for a
//                   submit, tf:{S}:c:<commandId> for a cancel, amend or mass cancel.
// A submit or an amend, the commands that trade, also get:
//   KEYS[8] positions  hash: <clientId> the client's position net|cost|gains|losses (net signed lots; the open lots'
//                   cost and the realised gains and losses, each a sum of price ticks * lots, digit strings);
//                   "~" <clientId> its open lots, oldest first, "price:lots,price:lots" (FIFO; adjacent lots at one
//                   price coalesce). No expiry: one pair of fields per client that traded the symbol.
//   KEYS[9] candles hash of the UTC day of the command's time, tf:{S}:candles:<days since the epoch>, EX the candle
//                   retention (renewed by every write): <interval>:<start ms> the candle
//                   open|openTime|openSeq|high|low|close|closeTime|closeSeq|volume|notional|trades. Open and close
//                   are the first and last trade by (time, trade sequence), whatever order commands arrive in.
//
// META: cseq|oseq|tseq|last|gen|gents|bestBid|bestAsk (command, order and trade sequences, last trade price, the
//   current generation and when it started, the best prices; an empty field is "none").
// Order record:
//   side|type|price|qty|filled|cancelled|status|seq|notional|lastTradeSeq|submittedAt|version|stp|postOnly|clientId
//   (price in ticks, sizes in lots, notional = sum of price ticks * lots over the order's fills, a digit string)
// Reply: flag "N" (new) | "R" (replayed) | "X" (id reused with other content), then "\n" and the result:
//   reason|version|side|qty|filled|cancelled|timestamp|detail   (the command's outcome: see engine.ts decode)
//   the record of the command's order after it ("" for a rejection or a mass cancel)
//   then one line per event: T|seq|price|lots|makerId|makerRemaining (a trade),
//   P|restingId|mode|incomingLots|restingLots (a self-trade prevented),
//   A|orderId|record (every other order the command changed, as it left it).
// Integers stay below 10^15 (validated before the call), so Lua's doubles hold them exactly; products of two
// of them (notionals, price bands) use the limb arithmetic below.

export const BOOK_KEY_NAMES = ["book", "bids", "asks", "owners", "gen0", "gen1"] as const;

/** Where a command's result is kept: `r:<orderId>` for a submit, `c:<commandId>` otherwise. */
export const commandKey = (symbol: string, id: string): string => `tf:{${symbol}}:${id}`;

/** The symbol's keys, then the command's result key (a placeholder for the read-only functions). */
export function bookKeys(symbol: string, result = "-"): string[] {
  return [...BOOK_KEY_NAMES.map((name) => commandKey(symbol, name)), commandKey(symbol, result)];
}

/** Every client's position on the symbol. */
export const positionsKey = (symbol: string): string => commandKey(symbol, "positions");

/** The symbol's candles of one UTC day (days since the epoch). */
export const candlesKey = (symbol: string, day: number): string => commandKey(symbol, `candles:${day}`);

/** The keys of a command that may trade at `at` (epoch ms): the book's, the result's, positions and candles. */
export function tradeKeys(symbol: string, result: string, at: number): string[] {
  return [...bookKeys(symbol, result), positionsKey(symbol), candlesKey(symbol, Math.floor(at / DAY_MS))];
}

/** The key that claims an order id for one symbol: order ids are unique across symbols. */
export function orderIdKey(orderId: string): string {
  return `tf:oid:{${orderId}}`;
}

const PRELUDE = `
local INV = 1000000000000000
local SIDES = { 'B', 'S' }
local INTERVALS = { ${Object.entries(CANDLE_INTERVALS)
  .map(([name, ms]) => `{ '${name}', ${ms} }`)
  .join(", ")} }
-- Set per call by reset(): the library's functions are defined once, when it loads.
local KEYS, ARGV, BOOK, BIDS, ASKS, OWNERS, RESULT, S, M
local function fmt(n) return string.format('%d', n) end
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
-- a - b for a >= b.
local function big_sub(a, b)
  local r, borrow = {}, 0
  for i = 1, #a do
    local t = a[i] - (b[i] or 0) - borrow
    borrow = t < 0 and 1 or 0
    r[i] = t + borrow * BASE
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
-- Sums kept as digit strings: acc + a * b, acc - a * b (never below zero), a + b (digit strings).
local function add_product(acc, a, b)
  local sum = tonumber(acc) + a * b
  if sum < SAFE then return fmt(sum) end
  return big_str(big_add(big(acc), big_mul(big(a), big(b))))
end
local function sub_product(acc, a, b)
  local have = tonumber(acc)
  if have < SAFE then return fmt(have - a * b) end
  return big_str(big_sub(big(acc), big_mul(big(a), big(b))))
end
local function add_digits(a, b)
  local sum = tonumber(a) + tonumber(b)
  if sum < SAFE then return fmt(sum) end
  return big_str(big_add(big(a), big(b)))
end

local function parse(rec)
  local s, t, p, q, f, c, st, sq, n, ls, ts, v, stp, po, cl = string.match(rec,
    '^(%a)|(%a)|(%d+)|(%d+)|(%d+)|(%d+)|(%a)|(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|(%a)|(%d)|(.*)$')
  return { side = s, type = t, price = tonumber(p), qty = tonumber(q), filled = tonumber(f),
           cancelled = tonumber(c), status = st, seq = tonumber(sq), notional = n, lseq = tonumber(ls),
           ts = tonumber(ts), version = tonumber(v), stp = stp, po = po, client = cl }
end
local function pack(o)
  return string.format('%s|%s|%d|%d|%d|%d|%s|%d|%s|%d|%d|%d|%s|%s|%s', o.side, o.type, o.price, o.qty, o.filled,
                       o.cancelled, o.status, o.seq, o.notional, o.lseq, o.ts, o.version, o.stp, o.po, o.client)
end
local function left_of(o) return o.qty - o.filled - o.cancelled end
local function add_fill(o, price, lots, trade_seq, version)
  o.filled = o.filled + lots
  o.notional = add_product(o.notional, price, lots)
  o.lseq, o.version = trade_seq, version
end
local function other(side) return side == 'B' and 'S' or 'B' end
local function book_of(side) return side == 'B' and BIDS or ASKS end
local function price_key(side, price) return string.format('%016d', side == 'B' and INV - price or price) end
local function member(side, price, seq, id) return price_key(side, price) .. string.format('%016d', seq) .. id end
local function member_price(side, m)
  local key = tonumber(string.sub(m, 1, 16))
  return side == 'B' and INV - key or key
end
local function level_field(side, price) return '#' .. side .. fmt(price) end
local function crosses(side, price, other_price)
  if side == 'B' then return other_price <= price end
  return other_price >= price
end

-- S is what one command read of the symbol and what it will write: records and level sizes are read in batches
-- (one HMGET per batch) and written once at the end (one HSET and one HDEL on the book hash).
local function reset(keys, args)
  KEYS, ARGV = keys, args
  BOOK, BIDS, ASKS, OWNERS, RESULT = keys[1], keys[2], keys[3], keys[4], keys[7]
  S = { raw = {}, rec = {}, live = {}, lv = {}, lv0 = {}, changed = {}, gone = {}, zadd = { B = {}, S = {} },
        zrem = { B = {}, S = {} }, touched = {}, lines = {}, fills = {} }
end
local function fetch(fields)
  local want = {}
  for i = 1, #fields do
    local f = fields[i]
    if S.raw[f] == nil then want[#want + 1] = f; S.raw[f] = false end
  end
  if #want == 0 then return end
  local got = redis.call('HMGET', BOOK, unpack(want))
  for i = 1, #want do S.raw[want[i]] = got[i] or false end
end
local function rec(id)
  if S.rec[id] == nil then
    fetch({ id })
    local raw = S.raw[id]
    S.rec[id] = raw and parse(raw) or false
    S.live[id] = raw and true or false
  end
  return S.rec[id]
end
local function level(f)
  if S.lv[f] == nil then
    fetch({ f })
    S.lv0[f] = tonumber(S.raw[f]) or 0
    S.lv[f] = S.lv0[f]
  end
  return S.lv[f]
end
local function add_level(side, price, lots)
  local f = level_field(side, price)
  S.lv[f] = level(f) + lots
end

-- Reads the symbol's META (with any other fields the command needs, in the same HMGET) and takes the next
-- command sequence.
local function begin(fields, now, ttl_ms)
  local all = { '~' }
  for i = 1, #fields do all[i + 1] = fields[i] end
  fetch(all)
  local c, o, t, last, g, gts, bb, ba = string.match(S.raw['~'] or '0|0|0||0|||',
    '^(%d+)|(%d+)|(%d+)|(%d*)|(%d)|(%d*)|(%d*)|(%d*)$')
  M = { cseq = tonumber(c) + 1, oseq = tonumber(o), tseq = tonumber(t), last = last, gen = tonumber(g),
        gents = tonumber(gts), best = { B = tonumber(bb), S = tonumber(ba) }, now = now, ttl_ms = ttl_ms }
  return M.cseq
end
local function retained(id)
  return redis.call('HGET', KEYS[5 + M.gen], 'o:' .. id) or redis.call('HGET', KEYS[6 - M.gen], 'o:' .. id)
end
-- The live order a cancel or amend targets; else why there is none to act on, and the terminal order for its
-- owner only: another client learns neither its side nor its sizes.
local function target(id, client)
  local o = rec(id)
  if o then
    if o.client ~= client then return nil, 'NOT_ORDER_OWNER' end
    return o
  end
  local kept = retained(id)
  if not kept then return nil, 'UNKNOWN_ORDER' end
  o = parse(kept)
  if o.client ~= client then return nil, 'NOT_ORDER_OWNER' end
  return nil, 'ORDER_NOT_OPEN', o
end
local function touch(id)
  if not S.changed[id] then
    S.changed[id] = true
    S.touched[#S.touched + 1] = id
  end
end
-- Takes a live order off the book (it stays in S.rec with its final state).
local function unrest(id, o)
  local zr = S.zrem[o.side]
  zr[#zr + 1] = member(o.side, o.price, o.seq, id)
  add_level(o.side, o.price, -left_of(o))
end
local function rest(id, o)
  M.oseq = M.oseq + 1
  o.seq = M.oseq
  local za = S.zadd[o.side]
  za[#za + 1] = 0
  za[#za + 1] = member(o.side, o.price, o.seq, id)
  add_level(o.side, o.price, left_of(o))
  S.gone[id] = nil
end
local function finish_order(id, o)
  o.status = o.filled + o.cancelled < o.qty and (o.filled > 0 and 'P' or 'N') or (o.cancelled > 0 and 'C' or 'F')
  if o.status == 'F' or o.status == 'C' then S.gone[id] = true end
end

-- The steps of matching order o (with 'left' lots to trade) against the other side, best first, without
-- writing anything, so a fill-or-kill order can be refused before any step is applied. Self-trade prevention
-- by o's mode: W cancels o (the newest), O the resting order, B both, D decrements both by the smaller size.
local function walk(o, left)
  local side = other(o.side)
  local zkey = book_of(side)
  local max = '+'
  if o.type == 'L' then max = '(' .. price_key(side, o.price + (side == 'B' and -1 or 1)) end
  local steps, offset, batch = {}, 0, 4
  while left > 0 do
    local ms = redis.call('ZRANGE', zkey, '-', max, 'BYLEX', 'LIMIT', offset, batch)
    local ids, prices, fields = {}, {}, {}
    for i = 1, #ms do
      ids[i], prices[i] = string.sub(ms[i], 33), member_price(side, ms[i])
      fields[#fields + 1] = ids[i]
      fields[#fields + 1] = level_field(side, prices[i])
    end
    fetch(fields)
    for i = 1, #ms do
      local mid, price = ids[i], prices[i]
      local maker = rec(mid)
      local avail = left_of(maker)
      local step = { id = mid, price = price, fill = 0, mine = 0, theirs = 0 }
      if o.stp ~= 'N' and maker.client == o.client then
        step.mode = o.stp
        if o.stp == 'W' then step.mine = left
        elseif o.stp == 'O' then step.theirs = avail
        elseif o.stp == 'B' then step.mine, step.theirs = left, avail
        else step.mine = math.min(left, avail); step.theirs = step.mine end
        left = left - step.mine
      else
        step.fill = math.min(left, avail)
        left = left - step.fill
      end
      steps[#steps + 1] = step
      if left == 0 then break end
    end
    if #ms < batch then break end
    offset = offset + #ms
    batch = 32
  end
  return steps
end
local function apply(o, steps, version)
  local side = other(o.side)
  for _, s in ipairs(steps) do
    local maker = S.rec[s.id]
    if s.fill > 0 then
      M.tseq = M.tseq + 1
      add_fill(maker, s.price, s.fill, M.tseq, version)
      add_fill(o, s.price, s.fill, M.tseq, version)
      M.last = fmt(s.price)
      S.lines[#S.lines + 1] = string.format('T|%d|%d|%d|%s|%d', M.tseq, s.price, s.fill, s.id, left_of(maker))
      S.fills[#S.fills + 1] = { seq = M.tseq, price = s.price, lots = s.fill, maker = maker.client }
    else
      o.cancelled = o.cancelled + s.mine
      maker.cancelled = maker.cancelled + s.theirs
      S.lines[#S.lines + 1] = string.format('P|%s|%s|%d|%d', s.id, s.mode, s.mine, s.theirs)
    end
    if s.fill + s.theirs > 0 then
      maker.version = version
      add_level(side, s.price, -(s.fill + s.theirs))
      finish_order(s.id, maker)
      if S.gone[s.id] then
        local zr = S.zrem[side]
        zr[#zr + 1] = member(side, s.price, maker.seq, s.id)
      end
      touch(s.id)
    end
  end
end
-- A client's position after one fill of 'lots' at 'price' on 'side': FIFO, the fill first closes open lots of the
-- other side, oldest first, realising (price - open price) * lots on a long and the opposite on a short; what is
-- left opens a lot, merged into the newest when at the same price. Only the lots it closes are parsed.
local function fill_position(p, side, price, lots)
  local sign = side == 'B' and 1 or -1
  if p.net * sign < 0 then
    local q, at, head = p.lots, 1, ''
    while lots > 0 and at <= #q do
      local _, e, lp, ll = string.find(q, '^(%d+):(%d+),?', at)
      lp, ll, at = tonumber(lp), tonumber(ll), e + 1
      local n = math.min(ll, lots)
      local gain = (price - lp) * -sign
      if gain > 0 then p.gains = add_product(p.gains, gain, n)
      elseif gain < 0 then p.losses = add_product(p.losses, -gain, n) end
      p.cost = sub_product(p.cost, lp, n)
      p.net, lots = p.net + sign * n, lots - n
      if n < ll then head = fmt(lp) .. ':' .. fmt(ll - n) .. (at <= #q and ',' or '') end
    end
    p.lots = head .. string.sub(q, at)
    if lots == 0 then return end
  end
  p.cost = add_product(p.cost, price, lots)
  p.net = p.net + sign * lots
  local q = p.lots
  if q == '' then p.lots = fmt(price) .. ':' .. fmt(lots); return end
  -- The newest lot is the last entry, after the last comma: an entry has at most 32 characters, so only the last
  -- 33 are searched (a plain find; a pattern anchored at the end would try every position).
  local comma, at = 0, string.find(q, ',', math.max(1, #q - 33), true)
  while at do comma, at = at, string.find(q, ',', at + 1, true) end
  local lp, ll = string.match(q, '^(%d+):(%d+)$', comma + 1)
  if tonumber(lp) == price then p.lots = string.sub(q, 1, comma) .. lp .. ':' .. fmt(tonumber(ll) + lots)
  else p.lots = q .. ',' .. fmt(price) .. ':' .. fmt(lots) end
end
-- The command's trades (all at its time ts) in the candle of each interval: one read and one write of the day's
-- hash. Open and close go to the earliest and latest trade by (time, trade sequence).
local function add_candles(ts, ttl)
  local fills = S.fills
  local first, last = fills[1], fills[#fills]
  local high, low, volume, notional = first.price, first.price, 0, '0'
  for _, f in ipairs(fills) do
    high, low = math.max(high, f.price), math.min(low, f.price)
    volume, notional = volume + f.lots, add_product(notional, f.price, f.lots)
  end
  local fields, set = {}, {}
  for i, interval in ipairs(INTERVALS) do fields[i] = interval[1] .. ':' .. fmt(ts - math.fmod(ts, interval[2])) end
  local got = redis.call('HMGET', KEYS[9], unpack(fields))
  for i, field in ipairs(fields) do
    -- open, its time and sequence, high, low, close, its time and sequence, volume, notional, trades
    local o, ot, oq, h, l, c, ct, cq, v, n, k = first.price, ts, first.seq, high, low, last.price, ts, last.seq,
      volume, notional, #fills
    if got[i] then
      local po, pot, poq, ph, pl, pc, pct, pcq, pv, pn, pk = string.match(got[i],
        '^(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|(%d+)$')
      pot, poq, pct, pcq = tonumber(pot), tonumber(poq), tonumber(pct), tonumber(pcq)
      if pot < ts or (pot == ts and poq < oq) then o, ot, oq = tonumber(po), pot, poq end
      if pct > ts or (pct == ts and pcq > cq) then c, ct, cq = tonumber(pc), pct, pcq end
      h, l = math.max(h, tonumber(ph)), math.min(l, tonumber(pl))
      v, n, k = v + tonumber(pv), add_digits(n, pn), k + tonumber(pk)
    end
    set[#set + 1] = field
    set[#set + 1] = string.format('%d|%d|%d|%d|%d|%d|%d|%d|%d|%s|%d', o, ot, oq, h, l, c, ct, cq, v, n, k)
  end
  redis.call('HSET', KEYS[9], unpack(set))
  redis.call('EXPIRE', KEYS[9], ttl)
end
-- Both sides of every trade of the command go to their clients' positions, in trade sequence, the maker's first
-- (a self-trade, which only prevention mode NONE lets through, is a sell and a buy of one client); then the
-- candles. Nothing to do without a trade.
local function settle(o, ts, candle_ttl)
  local fills = S.fills
  if #fills == 0 then return end
  local fields, pos = {}, {}
  for i = 0, #fills do
    local client = i == 0 and o.client or fills[i].maker
    if not pos[client] then
      pos[client] = true
      fields[#fields + 1] = client
      fields[#fields + 1] = '~' .. client
    end
  end
  local got = redis.call('HMGET', KEYS[8], unpack(fields))
  for i = 1, #fields, 2 do
    local net, cost, gains, losses = string.match(got[i] or '0|0|0|0', '^(-?%d+)|(%d+)|(%d+)|(%d+)$')
    pos[fields[i]] = { net = tonumber(net), cost = cost, gains = gains, losses = losses, lots = got[i + 1] or '' }
  end
  local maker_side = other(o.side)
  for _, f in ipairs(fills) do
    fill_position(pos[f.maker], maker_side, f.price, f.lots)
    fill_position(pos[o.client], o.side, f.price, f.lots)
  end
  local set = {}
  for i = 1, #fields, 2 do
    local p = pos[fields[i]]
    set[#set + 1] = fields[i]
    set[#set + 1] = string.format('%d|%s|%s|%s', p.net, p.cost, p.gains, p.losses)
    set[#set + 1] = fields[i + 1]
    set[#set + 1] = p.lots
  end
  redis.call('HSET', KEYS[8], unpack(set))
  add_candles(ts, candle_ttl)
end
-- A price band check against the engine's own last trade price, so a redelivered command is decided the same.
local function outside_band(price, band_bps)
  if not M.last or M.last == '' then return false end
  return cmp_products(price, 10000, M.last, math.max(0, 10000 - band_bps)) < 0
    or cmp_products(price, 10000, M.last, 10000 + band_bps) > 0
end

-- Writes everything the command changed, then stores and returns its result.
local function flush(own_id, own, head, fingerprint, ttl)
  local set, del, term = { '~', '' }, {}, {}
  local own_add, own_rem, packed = {}, {}, {}
  local ids = { unpack(S.touched) }
  if own_id then ids[#ids + 1] = own_id end
  for _, id in ipairs(ids) do
    local o = S.rec[id]
    if o.status ~= 'R' then
      local key, record = o.client .. '|' .. id, pack(o)
      packed[id] = record
      if S.gone[id] then
        if S.live[id] then del[#del + 1] = id; own_rem[#own_rem + 1] = key end
        term[#term + 1] = 'o:' .. id
        term[#term + 1] = record
      else
        set[#set + 1] = id
        set[#set + 1] = record
        if not S.live[id] then own_add[#own_add + 1] = 0; own_add[#own_add + 1] = key end
      end
    end
  end
  local refresh = {}
  for f, lots in pairs(S.lv) do
    local before = S.lv0[f]
    if lots ~= before then
      local side = string.sub(f, 2, 2)
      local price, best = tonumber(string.sub(f, 3)), M.best[side]
      if lots > 0 then set[#set + 1] = f; set[#set + 1] = fmt(lots) else del[#del + 1] = f end
      if before == 0 then
        if not best or (side == 'B' and price > best) or (side == 'S' and price < best) then M.best[side] = price end
      elseif lots == 0 and price == best then
        refresh[side] = true
      end
    end
  end
  for _, side in ipairs(SIDES) do
    local zkey = book_of(side)
    if #S.zrem[side] > 0 then redis.call('ZREM', zkey, unpack(S.zrem[side])) end
    if #S.zadd[side] > 0 then redis.call('ZADD', zkey, unpack(S.zadd[side])) end
    if refresh[side] then
      local top = redis.call('ZRANGE', zkey, 0, 0)[1]
      M.best[side] = top and member_price(side, top)
    end
  end
  if #own_rem > 0 then redis.call('ZREM', OWNERS, unpack(own_rem)) end
  if #own_add > 0 then redis.call('ZADD', OWNERS, unpack(own_add)) end
  if not M.gents or M.now - M.gents >= M.ttl_ms then
    if M.gents then
      M.gen = 1 - M.gen
      redis.call('UNLINK', KEYS[5 + M.gen])
    end
    M.gents = M.now
  end
  if #term > 0 then redis.call('HSET', KEYS[5 + M.gen], unpack(term)) end
  if #del > 0 then redis.call('HDEL', BOOK, unpack(del)) end
  set[2] = string.format('%d|%d|%d|%s|%d|%d|%s|%s', M.cseq, M.oseq, M.tseq, M.last, M.gen, M.gents,
                         M.best.B and fmt(M.best.B) or '', M.best.S and fmt(M.best.S) or '')
  redis.call('HSET', BOOK, unpack(set))
  local out = { head, own_id and packed[own_id] or '' }
  for i = 1, #S.lines do out[#out + 1] = S.lines[i] end
  for _, id in ipairs(S.touched) do out[#out + 1] = 'A|' .. id .. '|' .. packed[id] end
  local result = table.concat(out, '\\n')
  redis.call('SET', RESULT, fingerprint .. '\\n' .. result, 'EX', ttl)
  return 'N\\n' .. result
end
local function head(reason, version, o, ts, detail)
  return string.format('%s|%d|%s|%d|%d|%d|%d|%s', reason or '', version, o and o.side or '', o and o.qty or 0,
                       o and o.filled or 0, o and o.cancelled or 0, ts, detail or '')
end
-- A stored result for this key: a replay when the content matches, else the id was reused.
local function replayed(fingerprint)
  local seen = redis.call('GET', RESULT)
  if not seen then return nil end
  local nl = string.find(seen, '\\n', 1, true)
  if string.sub(seen, 1, nl - 1) == fingerprint then return 'R\\n' .. string.sub(seen, nl + 1) end
  return 'X'
end
`;

/** ARGV: orderId, clientId, side B|S, type L|M, price ticks (0 for market), qty lots, tif G|I|F, postOnly 1|0,
 *  self-trade prevention N|W|O|B|D, timestamp ms or "", now ms, ttl seconds, fingerprint, price band bps,
 *  max market notional in tick*lot units, candle retention seconds. */
const SUBMIT = `
local id, client, side, otype = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local price, qty, tif = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local now, ttl, fingerprint = tonumber(ARGV[11]), tonumber(ARGV[12]), ARGV[13]
local ts = tonumber(ARGV[10]) or now
local seen = replayed(fingerprint)
if seen then return seen end
local version = begin({ id, level_field(side, price) }, now, ttl * 1000)
if S.raw[id] then return 'X' end

local o = { side = side, type = otype, price = price, qty = qty, filled = 0, cancelled = 0, status = 'N', seq = 0,
            notional = '0', lseq = 0, ts = ts, version = version, stp = ARGV[9], po = ARGV[8], client = client }
S.rec[id], S.live[id] = o, false
local function refuse(reason, detail)
  o.status = 'R'
  return flush(id, o, head(reason, version, o, ts, detail), fingerprint, ttl)
end

local opposite = M.best[other(side)]
if otype == 'L' then
  if outside_band(price, tonumber(ARGV[14])) then return refuse('PRICE_OUTSIDE_BAND', M.last .. ':' .. ARGV[14]) end
  if o.po == '1' and opposite and crosses(side, price, opposite) then return refuse('POST_ONLY_WOULD_CROSS') end
elseif M.last ~= '' and cmp_products(M.last, qty, ARGV[15], 1) > 0 then
  return refuse('NOTIONAL_TOO_LARGE', M.last .. ':' .. ARGV[15])
end

local steps = {}
if opposite and (otype == 'M' or crosses(side, price, opposite)) then steps = walk(o, qty) end
if tif == 'F' then
  local fills = 0
  for _, s in ipairs(steps) do fills = fills + s.fill end
  if fills < qty then return refuse('FOK_NOT_FILLABLE') end
end
apply(o, steps, version)
settle(o, ts, tonumber(ARGV[16]))
if left_of(o) > 0 and otype == 'L' and tif == 'G' then rest(id, o) else o.cancelled = o.qty - o.filled end
finish_order(id, o)
return flush(id, o, head(nil, version, o, ts), fingerprint, ttl)
`;

/** ARGV: orderId, clientId, commandId, timestamp ms or "", now ms, ttl seconds. Every outcome is kept under the
 *  command id, rejections too, so a replayed cancel can never act differently from the first delivery. */
const CANCEL = `
local id, client = ARGV[1], ARGV[2]
local now, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
local ts = tonumber(ARGV[4]) or now
local fingerprint = 'C|' .. client .. '|' .. id
local seen = replayed(fingerprint)
if seen then return seen end
local version = begin({ id }, now, ttl * 1000)
local o, reason, terminal = target(id, client)
if not o then return flush(nil, nil, head(reason, version, terminal, ts), fingerprint, ttl) end
unrest(id, o)
o.cancelled, o.version = o.qty - o.filled, version
finish_order(id, o)
return flush(id, o, head(nil, version, o, ts), fingerprint, ttl)
`;

/** ARGV: orderId, clientId, commandId, new price ticks or "", new total qty lots or "", timestamp ms or "", now ms,
 *  ttl seconds, price band bps, max notional in tick*lot units, candle retention seconds. Reducing the quantity at
 *  the same price keeps the order's time priority; any other change takes it off the book and enters it again as a
 *  new arrival, which may trade. */
const AMEND = `
local id, client = ARGV[1], ARGV[2]
local now, ttl = tonumber(ARGV[7]), tonumber(ARGV[8])
local ts = tonumber(ARGV[6]) or now
local fingerprint = table.concat({ 'A', client, id, ARGV[4], ARGV[5] }, '|')
local seen = replayed(fingerprint)
if seen then return seen end
local version = begin({ id }, now, ttl * 1000)
local function done(reason, o, detail)
  return flush(nil, nil, head(reason, version, o, ts, detail), fingerprint, ttl)
end
local o, reason, terminal = target(id, client)
if not o then return done(reason, terminal) end
local price, qty = tonumber(ARGV[4]) or o.price, tonumber(ARGV[5]) or o.qty
if qty <= o.filled + o.cancelled then return done('AMEND_QUANTITY_TOO_LOW', o) end
if cmp_products(price, qty, ARGV[10], 1) > 0 then
  return done('NOTIONAL_TOO_LARGE', o, fmt(price) .. ':' .. ARGV[10] .. ':' .. fmt(qty))
end
if price ~= o.price and outside_band(price, tonumber(ARGV[9])) then
  return done('PRICE_OUTSIDE_BAND', o, M.last .. ':' .. ARGV[9])
end
local opposite = M.best[other(o.side)]
local crossing = opposite and crosses(o.side, price, opposite)
if crossing and o.po == '1' then return done('POST_ONLY_WOULD_CROSS', o) end

if price == o.price and qty <= o.qty then
  add_level(o.side, price, qty - o.qty)
  o.qty = qty
else
  unrest(id, o)
  o.price, o.qty = price, qty
  if crossing then
    apply(o, walk(o, left_of(o)), version)
    settle(o, ts, tonumber(ARGV[11]))
  end
  if left_of(o) > 0 then rest(id, o) end
end
o.version = version
finish_order(id, o)
return flush(id, o, head(nil, version, o, ts), fingerprint, ttl)
`;

/** ARGV: clientId, commandId, timestamp ms or "", now ms, ttl seconds, max orders, fingerprint (client and scope:
 *  a mass cancel over every symbol must not replay as, or be replayed by, one over this symbol only). Cancels the
 *  client's live orders on the symbol by order id (lexicographic), at most max; the reply's detail is how many
 *  stay live. */
const CANCEL_ALL = `
local client = ARGV[1]
local now, ttl, max = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local ts = tonumber(ARGV[3]) or now
local fingerprint = ARGV[7]
local seen = replayed(fingerprint)
if seen then return seen end
local version = begin({}, now, ttl * 1000)
local owned = redis.call('ZRANGE', OWNERS, '[' .. client .. '|', '(' .. client .. '}', 'BYLEX', 'LIMIT', 0, max + 1)
local ids = {}
for i = 1, math.min(#owned, max) do ids[i] = string.sub(owned[i], #client + 2) end
fetch(ids)
local fields = {}
for _, id in ipairs(ids) do
  local o = rec(id)
  fields[#fields + 1] = level_field(o.side, o.price)
end
fetch(fields)
for _, id in ipairs(ids) do
  local o = S.rec[id]
  unrest(id, o)
  o.cancelled, o.version = o.qty - o.filled, version
  finish_order(id, o)
  touch(id)
end
local more = 0
if #owned > max then more = redis.call('ZLEXCOUNT', OWNERS, '[' .. client .. '|', '(' .. client .. '}') - max end
return flush(nil, nil, head(nil, version, nil, ts, fmt(more)), fingerprint, ttl)
`;

/** ARGV: levels. Returns { bids, asks, last, tseq }; each side a flat list price, lots, orders. */
const DEPTH = `
local n = tonumber(ARGV[1])
-- A level is the run of members that share a price key: the first member after a level starts the next one.
local function side(code)
  local book, out, from = book_of(code), {}, '-'
  while #out < 3 * n do
    local first = redis.call('ZRANGE', book, from, '+', 'BYLEX', 'LIMIT', 0, 1)[1]
    if not first then break end
    local key, price = string.sub(first, 1, 16), member_price(code, first)
    out[#out + 1] = fmt(price)
    out[#out + 1] = redis.call('HGET', BOOK, level_field(code, price))
    out[#out + 1] = redis.call('ZLEXCOUNT', book, '[' .. key, '(' .. key .. '~')
    from = '(' .. key .. '~'
  end
  return out
end
local meta = redis.call('HGET', BOOK, '~') or '0|0|0|'
local _, _, tseq, last = string.match(meta, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)')
return { side('B'), side('S'), last, tseq }
`;

/** ARGV: orderId. Returns the live or retained order record, or nil. */
const LOOKUP = `
local id = ARGV[1]
return redis.call('HGET', BOOK, id) or redis.call('HGET', KEYS[5], 'o:' .. id)
  or redis.call('HGET', KEYS[6], 'o:' .. id)
`;

const FUNCTIONS = {
  submit: SUBMIT,
  cancel: CANCEL,
  amend: AMEND,
  cancel_all: CANCEL_ALL,
  depth: DEPTH,
  lookup: LOOKUP,
};
const READ_ONLY: readonly string[] = ["depth", "lookup"];
export type BookFunction = keyof typeof FUNCTIONS;

/**
 * One Redis Functions library (Redis >= 7.0): its helpers are defined once, when it loads, not on every call as an
 * EVAL script's would be. Each command's body runs as a function with the symbol's keys and its arguments.
 */
function libraryCode(name: string): string {
  const registrations = Object.entries(FUNCTIONS).map(
    ([fn, body]) =>
      `redis.register_function{ function_name = '${name}_${fn}', flags = { ${READ_ONLY.includes(fn) ? "'no-writes'" : ""} },
  callback = function(keys, args)
reset(keys, args)
${body}
end }`,
  );
  return `#!lua name=${name}\n${PRELUDE}\n${registrations.join("\n")}\n`;
}

/** The library's name carries a hash of its code: two deployed versions never replace each other's functions. */
export const LIBRARY_NAME = `tradeflow_${createHash("sha256").update(libraryCode("")).digest("hex").slice(0, 16)}`;
export const LIBRARY_CODE = libraryCode(LIBRARY_NAME);
export const functionName = (fn: BookFunction): string => `${LIBRARY_NAME}_${fn}`;
