// Positions and candles, kept by the engine inside each match, against a reference model computed from the engine's
// own trades: FIFO lots over each symbol's trades in sequence order, and candles aggregated without regard to the
// order commands arrived in. Random order flows from three clients on two symbols, with timestamps that jump back
// and forth across minutes, hours and a UTC midnight; one symbol's prices and sizes take its products past 2^53.
import { formatScaled, fromUnits, parseDecimal } from "@tradeflow/common/decimal";
import { type Instrument, instrumentRegistry, SAMPLE_INSTRUMENTS, STP_MODES } from "@tradeflow/common/instruments";
import {
  CANDLE_INTERVALS,
  type Candle,
  type CandleInterval,
  type CommandResult,
  DEFAULT_CANDLE_RETENTION_DAYS,
  type EngineCommandInput,
  MatchingEngine,
  type Position,
  type Trade,
} from "@tradeflow/common/orderbook";
import fc from "fast-check";
import type { Redis } from "ioredis";
import { connect } from "../support/book-fixture";
import { REDIS_DB } from "../support/redis-db";

const BIG: Instrument = {
  symbol: "BIG",
  baseCurrency: "BIG",
  quoteCurrency: "USD",
  tickSize: "0.01",
  lotSize: "1",
  status: "TRADING",
  maxQuantity: "50000000000000",
  maxNotional: "10000000000000000000000000",
  priceBandBps: 5000,
  selfTradePrevention: "NONE",
};
const INSTRUMENTS: Instrument[] = [SAMPLE_INSTRUMENTS.find((i) => i.symbol === "BTC-USD")!, BIG];
const instruments = instrumentRegistry(INSTRUMENTS);
const SYMBOLS = INSTRUMENTS.map((i) => i.symbol);
const CLIENTS = ["alice", "bob", "carol"];
/** Mid price in ticks and the step between drawn prices: BIG's ticks × lots reach 10^26. */
const PRICES: Record<string, { mid: bigint; step: bigint; maxLots: bigint }> = {
  "BTC-USD": { mid: 6_500_000n, step: 1n, maxLots: 300n },
  BIG: { mid: 5_000_000_000_000n, step: 1_000_000_000n, maxLots: 50_000_000_000_000n },
};
/** 23:00 UTC: the drawn times (up to two hours on) cross midnight, so candles span two day keys. */
const T0 = Date.parse("2025-06-05T23:00:00Z");
const SPAN_MS = 2 * 3_600_000;

type SubmitOp = {
  kind: "limit" | "market";
  symbol: number;
  client: number;
  buy: boolean;
  offset: number;
  lots: bigint;
  ioc: boolean;
  stp: number;
  at: number;
};
/** A cancel or an amend (to a new price) of a recent order. */
type TargetOp = { kind: "cancel" | "amend"; target: number; offset: number; at: number };
type Op = SubmitOp | TargetOp;

const at = fc.integer({ min: 0, max: SPAN_MS - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constantFrom<"limit" | "market">("limit", "limit", "limit", "market"),
      symbol: fc.nat(SYMBOLS.length - 1),
      client: fc.nat(CLIENTS.length - 1),
      buy: fc.boolean(),
      offset: fc.integer({ min: -6, max: 6 }),
      lots: fc.bigInt({ min: 1n, max: 1n << 62n }),
      ioc: fc.constantFrom(false, false, false, true),
      // NONE (index 0) three times in seven: self-trades go through and count on both sides of one position.
      stp: fc.constantFrom(0, 0, 0, 1, 2, 3, 4),
      at,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom<"cancel" | "amend">("cancel", "amend"),
      target: fc.nat(5),
      offset: fc.integer({ min: -6, max: 6 }),
      at,
    }),
  },
);

const lotsOf = (symbol: string, lots: bigint) => fromUnits(lots, instruments.get(symbol)!.lotSize);
const priceOf = (symbol: string, offset: number) => {
  const { mid, step } = PRICES[symbol]!;
  return fromUnits(mid + BigInt(offset) * step, instruments.get(symbol)!.tickSize);
};

/** Engine commands with unique ids; cancels and amends (a new price) aim at recent orders. */
function materialize(ops: readonly Op[]): EngineCommandInput[] {
  const submits: { orderId: string; clientId: string; symbol: string }[] = [];
  return ops.flatMap((o, i): EngineCommandInput[] => {
    const timestamp = T0 + o.at;
    if ("target" in o) {
      const t = submits[submits.length - 1 - (o.target % Math.max(1, submits.length))];
      if (!t) return [];
      const base = { commandId: `c${i}`, orderId: t.orderId, clientId: t.clientId, symbol: t.symbol, timestamp };
      return [
        o.kind === "cancel"
          ? { type: "CANCEL", ...base }
          : { type: "AMEND", ...base, price: priceOf(t.symbol, o.offset) },
      ];
    }
    const symbol = SYMBOLS[o.symbol]!;
    const base = {
      orderId: `o${i}`,
      clientId: CLIENTS[o.client]!,
      symbol,
      side: o.buy ? "BUY" : "SELL",
      quantity: lotsOf(symbol, (o.lots % PRICES[symbol]!.maxLots) + 1n),
      selfTradePrevention: STP_MODES[o.stp]!,
      timestamp,
    } as const;
    submits.push(base);
    if (o.kind === "market") return [{ type: "MARKET", ...base }];
    // A buy drawn at +k ticks rests k below the mid (a sell k above), so books build and cross.
    const price = priceOf(symbol, o.buy ? -o.offset : o.offset);
    return [{ type: "LIMIT", ...base, price, timeInForce: o.ioc ? "IOC" : "GTC" }];
  });
}

const stream = fc.array(op, { minLength: 1, maxLength: 60, size: "max" }).map(materialize);

// ---------------------------------------------------------------- the reference model, in integer units

const units = (value: string, step: string) => {
  const v = parseDecimal(value)!;
  const s = parseDecimal(step)!;
  return (v.digits * 10n ** BigInt(s.scale)) / (s.digits * 10n ** BigInt(v.scale));
};
const ticksOf = (t: Trade) => units(t.price, instruments.get(t.symbol)!.tickSize);
const lotsIn = (t: Trade) => units(t.quantity, instruments.get(t.symbol)!.lotSize);

interface ModelPosition {
  net: bigint;
  cost: bigint;
  realised: bigint;
  /** Open lots, oldest first, each with the sign of the position. */
  lots: { price: bigint; lots: bigint }[];
}

const abs = (n: bigint) => (n < 0n ? -n : n);

/** FIFO: a fill against the position closes its oldest open lots first; what is left opens a lot. */
function fill(p: ModelPosition, signed: bigint, price: bigint): void {
  let left = signed;
  while (left !== 0n && p.net !== 0n && p.net > 0n !== left > 0n) {
    const lot = p.lots[0]!;
    const side = lot.lots > 0n ? 1n : -1n;
    let n = abs(left);
    if (abs(lot.lots) < n) n = abs(lot.lots);
    p.realised += (price - lot.price) * n * side;
    p.cost -= lot.price * n;
    lot.lots -= side * n;
    p.net -= side * n;
    left += side * n;
    if (lot.lots === 0n) p.lots.shift();
  }
  if (left === 0n) return;
  p.lots.push({ price, lots: left });
  p.cost += price * abs(left);
  p.net += left;
}

/** Every client's position per symbol from the trades, in trade sequence; each trade's maker side first. */
function modelPositions(trades: readonly Trade[]): Map<string, ModelPosition> {
  const positions = new Map<string, ModelPosition>();
  const of = (client: string, symbol: string) => {
    const key = `${client} ${symbol}`;
    const p = positions.get(key) ?? { net: 0n, cost: 0n, realised: 0n, lots: [] };
    positions.set(key, p);
    return p;
  };
  const ordered = [...trades].sort((a, b) => a.symbol.localeCompare(b.symbol) || a.sequence - b.sequence);
  for (const t of ordered) {
    const lots = lotsIn(t);
    const takerBuys = t.aggressorSide === "BUY";
    fill(of(t.makerClientId, t.symbol), takerBuys ? -lots : lots, ticksOf(t));
    fill(of(t.takerClientId, t.symbol), takerBuys ? lots : -lots, ticksOf(t));
  }
  return positions;
}

/** Half-even at `scale` decimals of a fraction of non-negative integers, by comparing remainders. */
function halfEven(numerator: bigint, denominator: bigint, scale: number): string {
  const q = numerator / denominator;
  const r = numerator - q * denominator;
  const rounded = 2n * r < denominator ? q : 2n * r > denominator ? q + 1n : q + (q & 1n);
  return formatScaled(rounded, scale);
}

/** ticks × lots as a price with 4 more decimals than the tick: BTC-USD's and BIG's ticks are both 0.01. */
const perLot = (tickLots: bigint, lots: bigint) => halfEven(tickLots * 10_000n, lots, 6);
const money = (symbol: string, tickLots: bigint) => {
  const { tickSize, lotSize } = instruments.get(symbol)!;
  const [tick, lot] = [parseDecimal(tickSize)!, parseDecimal(lotSize)!];
  return formatScaled(tickLots * tick.digits * lot.digits, tick.scale + lot.scale);
};

function expectedPositions(model: Map<string, ModelPosition>, client: string): Position[] {
  return SYMBOLS.flatMap((symbol) => {
    const p = model.get(`${client} ${symbol}`);
    if (!p || (p.net === 0n && p.realised === 0n)) return [];
    return [
      {
        symbol,
        netQuantity: fromUnits(p.net, instruments.get(symbol)!.lotSize),
        costBasis: money(symbol, p.cost),
        averageCost: p.net === 0n ? null : perLot(p.cost, abs(p.net)),
        realisedPnl: money(symbol, p.realised),
      },
    ];
  });
}

/** The open lots as the engine stores them: adjacent lots at one price merged, "price:lots" oldest first. */
const storedLots = (p: ModelPosition | undefined) =>
  (p?.lots ?? [])
    .reduce<{ price: bigint; lots: bigint }[]>((out, lot) => {
      const last = out[out.length - 1];
      if (last?.price === lot.price) last.lots += lot.lots;
      else out.push({ ...lot });
      return out;
    }, [])
    .map((lot) => `${lot.price}:${abs(lot.lots)}`)
    .join(",");

/** Every candle of the trades, each a fold over its trades in any order: min and max by (time, sequence). */
function expectedCandles(trades: readonly Trade[], symbol: string, interval: CandleInterval): Candle[] {
  const length = CANDLE_INTERVALS[interval];
  const buckets = new Map<number, Trade[]>();
  for (const t of trades.filter((x) => x.symbol === symbol)) {
    const start = t.timestamp - (t.timestamp % length);
    const bucket = buckets.get(start) ?? [];
    if (bucket.length === 0) buckets.set(start, bucket);
    bucket.push(t);
  }
  const earlier = (a: Trade, b: Trade) =>
    a.timestamp < b.timestamp || (a.timestamp === b.timestamp && a.sequence < b.sequence);
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([start, ts]) => {
      const first = ts.reduce((a, b) => (earlier(a, b) ? a : b));
      const last = ts.reduce((a, b) => (earlier(a, b) ? b : a));
      const prices = ts.map(ticksOf).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const volume = ts.reduce((sum, t) => sum + lotsIn(t), 0n);
      const notional = ts.reduce((sum, t) => sum + ticksOf(t) * lotsIn(t), 0n);
      const price = (ticks: bigint) => fromUnits(ticks, instruments.get(symbol)!.tickSize);
      return {
        start: new Date(start).toISOString(),
        open: first.price,
        high: price(prices[prices.length - 1]!),
        low: price(prices[0]!),
        close: last.price,
        volume: lotsOf(symbol, volume),
        notional: money(symbol, notional),
        vwap: perLot(notional, volume),
        tradeCount: ts.length,
      };
    });
}

// ---------------------------------------------------------------- the properties

let redis: Redis;
let engine: MatchingEngine;
beforeAll(() => {
  redis = connect(REDIS_DB.analyticsProperties);
  engine = new MatchingEngine({ redis, instruments });
});
afterAll(() => redis.quit());

async function run(commands: readonly EngineCommandInput[]): Promise<CommandResult[]> {
  const results: CommandResult[] = [];
  for (const c of commands) results.push(await engine.execute(c));
  return results;
}

const WINDOW = { from: T0, to: T0 + SPAN_MS };

async function expectModel(trades: readonly Trade[]): Promise<void> {
  const model = modelPositions(trades);
  for (const client of [...CLIENTS, "dave"]) {
    expect({ client, positions: await engine.positions(client) }).toEqual({
      client,
      positions: expectedPositions(model, client),
    });
    for (const symbol of SYMBOLS) {
      const lots = await redis.hget(`tf:{${symbol}}:positions`, `~${client}`);
      expect({ client, symbol, lots: lots ?? "" }).toEqual({
        client,
        symbol,
        lots: storedLots(model.get(`${client} ${symbol}`)),
      });
    }
  }
  for (const symbol of SYMBOLS) {
    for (const interval of Object.keys(CANDLE_INTERVALS) as CandleInterval[]) {
      expect({ symbol, interval, candles: await engine.candles(symbol, interval, WINDOW.from, WINDOW.to) }).toEqual({
        symbol,
        interval,
        candles: expectedCandles(trades, symbol, interval),
      });
    }
  }
}

/** The positions hashes and every candle key, whole. */
async function analytics(): Promise<Record<string, Record<string, string>>> {
  const keys = [...(await redis.keys("tf:*:positions")), ...(await redis.keys("tf:*:candles:*"))].sort();
  return Object.fromEntries(await Promise.all(keys.map(async (k) => [k, await redis.hgetall(k)] as const)));
}

test("positions and candles equal the model's from the engine's own trades, whatever the order of times", async () => {
  let selfTrades = 0;
  let backwards = 0;
  await fc.assert(
    fc.asyncProperty(stream, async (commands) => {
      await redis.flushdb();
      const results = await run(commands);
      const trades = results.flatMap((r) => r.trades);
      selfTrades += trades.filter((t) => t.makerClientId === t.takerClientId).length;
      backwards += trades.filter((t, i) => i > 0 && t.timestamp < trades[i - 1]!.timestamp).length;
      await expectModel(trades);
    }),
    { numRuns: 150 },
  );
  // The streams did reach what the properties are about.
  expect(selfTrades).toBeGreaterThan(10);
  expect(backwards).toBeGreaterThan(100);
});

test("every command replayed, in order and shuffled, leaves positions and candles byte for byte", async () => {
  await fc.assert(
    fc.asyncProperty(
      stream.chain((commands) =>
        fc.tuple(fc.constant(commands), fc.shuffledSubarray(commands, { minLength: commands.length })),
      ),
      async ([commands, shuffled]) => {
        await redis.flushdb();
        const trades = (await run(commands)).flatMap((r) => r.trades);
        const before = await analytics();
        for (const again of [commands, shuffled]) {
          const results = await run(again);
          expect(results.every((r) => r.replayed)).toBe(true);
          expect(await analytics()).toEqual(before);
        }
        await expectModel(trades);
      },
    ),
    { numRuns: 60 },
  );
});

test("a command dated before one already processed opens its candle; one dated after closes it", async () => {
  await redis.flushdb();
  const minute = Date.parse("2025-06-05T10:07:00Z");
  const rest = (orderId: string, price: string, timestamp: number): EngineCommandInput => ({
    type: "LIMIT",
    orderId,
    clientId: "alice",
    symbol: "BTC-USD",
    side: "SELL",
    price,
    quantity: "1",
    timestamp,
  });
  const take = (orderId: string, price: string, timestamp: number): EngineCommandInput => ({
    type: "LIMIT",
    orderId,
    clientId: "bob",
    symbol: "BTC-USD",
    side: "BUY",
    price,
    quantity: "1",
    timeInForce: "IOC",
    timestamp,
  });
  await run([
    rest("r1", "100", minute),
    rest("r2", "101", minute),
    rest("r3", "102", minute),
    // Processed in this order, executed at :30, :10, :50 and again :10 (a later sequence at the same time).
    take("t1", "100", minute + 30_000),
    take("t2", "101", minute + 10_000),
    take("t3", "102", minute + 50_000),
  ]);
  await run([rest("r4", "99", minute), take("t4", "99", minute + 10_000)]);
  const [candle] = await engine.candles("BTC-USD", "1m", minute, minute + 60_000);
  expect(candle).toEqual({
    start: "2025-06-05T10:07:00.000Z",
    open: "101",
    high: "102",
    low: "99",
    close: "102",
    volume: "4",
    notional: "402",
    vwap: "100.5",
    tradeCount: 4,
  });
  // bob bought 100, 101, 102, 99: 402 over 4 lots. alice sold them: short the same.
  expect(await engine.positions("bob")).toEqual([
    { symbol: "BTC-USD", netQuantity: "4", costBasis: "402", averageCost: "100.5", realisedPnl: "0" },
  ]);
  expect(await engine.positions("alice")).toEqual([
    { symbol: "BTC-USD", netQuantity: "-4", costBasis: "402", averageCost: "100.5", realisedPnl: "0" },
  ]);
  // The day's key expires after the retention, renewed by each write.
  const ttl = await redis.ttl(`tf:{BTC-USD}:candles:${Math.floor(minute / 86_400_000)}`);
  expect(ttl).toBeGreaterThan(DEFAULT_CANDLE_RETENTION_DAYS * 86_400 - 60);
  expect(ttl).toBeLessThanOrEqual(DEFAULT_CANDLE_RETENTION_DAYS * 86_400);
});
