// Random command streams through the engine (real Redis) and through the reference model.
// fast-check prints the seed and the shrunk stream of any failure, so every failure replays exactly.
import { CommandResultSchema } from "@tradeflow/common/contracts";
import { fromUnits } from "@tradeflow/common/decimal";
import { type Instrument, instrumentRegistry, SAMPLE_INSTRUMENTS } from "@tradeflow/common/instruments";
import {
  type CommandResult,
  type EngineCommandInput,
  MatchingEngine,
  type OrderState,
  type Trade,
} from "@tradeflow/common/orderbook";
import fc from "fast-check";
import type { Redis } from "ioredis";
import { checkInvariants, connect, engineOn } from "../support/book-fixture";
import { ReferenceBook } from "../support/reference-book";

const SYMBOLS = ["AAPL", "BTC-USD", "ETH-USD"] as const;
const MID_TICKS = { AAPL: 10_000n, "BTC-USD": 6_500_000n, "ETH-USD": 320_000n };
const CLIENTS = ["alice", "bob", "carol"];
// A market order of about 30 lots at the mid reaches the maximum notional, so streams cross that bound.
const MAX_NOTIONAL = { AAPL: "3000", "BTC-USD": "195", "ETH-USD": "96" };
const INSTRUMENTS: Instrument[] = SAMPLE_INSTRUMENTS.map((i) => ({
  ...i,
  maxNotional: MAX_NOTIONAL[i.symbol as (typeof SYMBOLS)[number]],
}));
const instruments = instrumentRegistry(INSTRUMENTS);
/** The price band's half-width at the mid, in ticks: limit prices drawn near it land on both sides of the edge. */
const bandTicks = (symbol: (typeof SYMBOLS)[number]) =>
  (MID_TICKS[symbol] * BigInt(instruments.get(symbol)!.priceBandBps)) / 10_000n;

type LimitOp = {
  kind: "limit";
  symbol: number;
  buy: boolean;
  band: -1 | 0 | 1;
  offset: number;
  lots: number;
  tif: 0 | 1 | 2;
  postOnly: boolean;
  client: number;
};
type MarketOp = { kind: "market"; symbol: number; buy: boolean; lots: number; client: number };
type Op =
  | LimitOp
  | MarketOp
  | { kind: "cancel"; target: number; client: number }
  | { kind: "replay"; target: number; mutate: 0 | 1 | 2 };
type Submit = Extract<EngineCommandInput, { type: "LIMIT" | "MARKET" }>;

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("limit" as const),
      symbol: fc.nat(SYMBOLS.length - 1),
      buy: fc.boolean(),
      band: fc.constantFrom<-1 | 0 | 1>(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 1),
      offset: fc.integer({ min: -8, max: 8 }),
      lots: fc.integer({ min: 1, max: 30 }),
      tif: fc.constantFrom<0 | 1 | 2>(0, 0, 0, 1, 2),
      postOnly: fc.constantFrom(false, false, false, true),
      client: fc.nat(CLIENTS.length - 1),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("market" as const),
      symbol: fc.nat(SYMBOLS.length - 1),
      buy: fc.boolean(),
      lots: fc.integer({ min: 1, max: 40 }),
      client: fc.nat(CLIENTS.length - 1),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("cancel" as const),
      target: fc.nat(),
      client: fc.nat(CLIENTS.length - 1),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("replay" as const), target: fc.nat(), mutate: fc.constantFrom(0, 1, 2) }),
  },
);

function submitCommand(o: LimitOp | MarketOp, orderId: string, symbolIndex = o.symbol): Submit {
  const symbol = SYMBOLS[symbolIndex % SYMBOLS.length]!;
  const inst = instruments.get(symbol)!;
  const base = { orderId, clientId: CLIENTS[o.client]!, symbol, side: o.buy ? "BUY" : "SELL" } as const;
  const quantity = fromUnits(BigInt(o.lots), inst.lotSize);
  if (o.kind === "market") return { type: "MARKET", ...base, quantity };
  return {
    type: "LIMIT",
    ...base,
    quantity,
    price: fromUnits(MID_TICKS[symbol] + BigInt(o.band) * bandTicks(symbol) + BigInt(o.offset), inst.tickSize),
    timeInForce: (["GTC", "IOC", "FOK"] as const)[o.tif],
    postOnly: o.postOnly && o.tif === 0,
  };
}

/**
 * Turns drawn ops into engine commands: unique order ids, cancels and replays aimed at earlier commands. A
 * mutated replay reuses an id with other content: the other side, or the same order on another symbol.
 */
function materialize(ops: readonly Op[]): EngineCommandInput[] {
  const out: EngineCommandInput[] = [];
  const submits: Submit[] = [];
  const drawn = new Map<string, LimitOp | MarketOp>();
  ops.forEach((o, i) => {
    if (o.kind === "limit" || o.kind === "market") {
      const cmd = submitCommand(o, `o${i}`);
      drawn.set(cmd.orderId, o);
      submits.push(cmd);
      out.push(cmd);
    } else if (o.kind === "cancel" && submits.length > 0) {
      const target = submits[o.target % submits.length]!;
      out.push({
        type: "CANCEL",
        commandId: `c${i}`,
        orderId: target.orderId,
        clientId: CLIENTS[o.client]!,
        symbol: target.symbol,
      });
    } else if (o.kind === "replay" && out.length > 0) {
      const target = out[o.target % out.length]!;
      const original = drawn.get(target.orderId);
      if (target.type === "CANCEL" || !original || o.mutate === 0) out.push(target);
      else if (o.mutate === 1) out.push({ ...target, side: target.side === "BUY" ? "SELL" : "BUY" } as Submit);
      else out.push(submitCommand(original, target.orderId, SYMBOLS.indexOf(target.symbol as never) + 1));
    }
  });
  return out;
}

const stream = fc.array(op, { minLength: 1, maxLength: 50 }).map(materialize);

let redis: Redis;
let engine: MatchingEngine;
beforeAll(() => {
  redis = connect(2);
  engine = new MatchingEngine({ redis, instruments });
});
afterAll(() => redis.quit());

const outcome = (r: CommandResult) => ({
  status: r.status,
  reason: r.reason,
  filledQuantity: r.filledQuantity,
  cancelledQuantity: r.cancelledQuantity,
  averagePrice: r.averagePrice,
  order: r.order,
  makers: r.makers,
  version: r.version,
  trades: r.trades.map((t) => ({
    price: t.price,
    quantity: t.quantity,
    makerOrderId: t.makerOrderId,
    takerOrderId: t.takerOrderId,
    sequence: t.sequence,
    makerRemainingQuantity: t.makerRemainingQuantity,
  })),
});

/** Versions of the commands a symbol executed (not replays, not refusals before its book) grow strictly. */
function expectGrowingVersions(results: readonly CommandResult[]): void {
  for (const symbol of SYMBOLS) {
    const versions = results.filter((r) => r.symbol === symbol && !r.replayed && r.version !== null);
    versions.forEach((r, i) => {
      if (i > 0) expect(r.version).toBeGreaterThan(versions[i - 1]!.version!);
    });
  }
}

test("the engine agrees with the reference model on every outcome, order state, trade and final book", async () => {
  await fc.assert(
    fc.asyncProperty(stream, async (unstamped) => {
      await redis.flushdb();
      const commands = unstamped.map((c, i) => ({ ...c, timestamp: 1_700_000_000_000 + i }));
      const model = new ReferenceBook(INSTRUMENTS);
      const results: CommandResult[] = [];
      for (const command of commands) {
        const expected = model.execute(command);
        const actual = await engine.execute(command);
        results.push(actual);
        expect({ command, ...outcome(actual) }).toEqual({ command, ...expected });
      }
      expectGrowingVersions(results);
      for (const symbol of SYMBOLS) {
        const book = await engine.depth(symbol, 1000);
        const strip = (levels: typeof book.bids) =>
          levels.map(({ price, quantity, orders }) => ({ price, quantity, orders }));
        expect({ bids: strip(book.bids), asks: strip(book.asks) }).toEqual(model.depth(symbol));
      }
    }),
    { numRuns: 2000 },
  );
});

/**
 * A result meets the engine contract, and the states it reports are the engine's own: each equals what getOrder
 * reads right after and carries the command's version; a submit's state has its trades' timestamp (here the
 * Redis clock: no command timestamp).
 */
async function checkReportedStates(result: CommandResult): Promise<void> {
  expect(CommandResultSchema.parse(result)).toEqual(result);
  const reported: OrderState[] = [...(result.order ? [result.order] : []), ...result.makers];
  for (const state of reported) {
    expect(await engine.getOrder(state.symbol, state.orderId)).toEqual(state);
    expect(state.version).toBe(result.version);
  }
  expect(result.makers.map((m) => m.orderId)).toEqual(result.trades.map((t) => t.makerOrderId));
  for (const t of result.trades) expect(result.order?.submittedAt).toBe(t.timestamp);
}

test("invariants hold after every command", async () => {
  await fc.assert(
    fc.asyncProperty(stream, async (commands) => {
      await redis.flushdb();
      const trades: Trade[] = [];
      const ids = new Set<string>();
      const results: CommandResult[] = [];
      for (const command of commands) {
        const result = await engine.execute(command);
        results.push(result);
        if (!result.replayed) {
          trades.push(...result.trades);
          await checkReportedStates(result);
        }
        ids.add(command.orderId);
        await checkInvariants(engine, command.symbol, ids, trades);
      }
      expectGrowingVersions(results);
    }),
    { numRuns: 200 },
  );
});

async function snapshot(r: Redis): Promise<Record<string, string>> {
  const keys = (await r.keys("tf:*")).sort();
  const out: Record<string, string> = {};
  for (const key of keys) {
    const type = await r.type(key);
    out[key] = JSON.stringify(
      type === "hash"
        ? Object.entries(await r.hgetall(key)).sort(([a], [b]) => a.localeCompare(b))
        : type === "zset"
          ? await r.zrange(key, "0", "-1", "WITHSCORES")
          : type,
    );
  }
  return out;
}

test("replaying a whole stream returns the original results and leaves every key identical", async () => {
  await fc.assert(
    fc.asyncProperty(stream, async (commands) => {
      await redis.flushdb();
      const first = [];
      for (const c of commands) first.push(await engine.execute(c));
      const before = await snapshot(redis);
      for (const [i, c] of commands.entries()) {
        const again = await engine.execute(c);
        expect({ ...again, replayed: false }).toEqual({ ...first[i], replayed: false });
      }
      expect(await snapshot(redis)).toEqual(before);
    }),
    { numRuns: 200 },
  );
});

test("a journal with timestamps rebuilds an identical book and identical trades on a fresh Redis", async () => {
  await fc.assert(
    fc.asyncProperty(stream, async (commands) => {
      const stamped = commands.map((c, i) => ({ ...c, timestamp: 1_700_000_000_000 + i }));
      const runOnce = async () => {
        await redis.flushdb();
        const results = [];
        for (const c of stamped) results.push(await engine.execute(c));
        const books = await Promise.all(SYMBOLS.map((s) => engine.depth(s, 1000)));
        return { results, books };
      };
      expect(await runOnce()).toEqual(await runOnce());
    }),
    { numRuns: 100 },
  );
});

test("many clients submitting to one symbol at once leave a consistent book", async () => {
  await redis.flushdb();
  const clients = Array.from({ length: 16 }, () => connect(2));
  const engines = clients.map((c) => engineOn(c));
  const rng = fc.sample(
    fc.tuple(fc.boolean(), fc.integer({ min: -5, max: 5 }), fc.integer({ min: 1, max: 20 }), fc.nat(9)),
    {
      numRuns: 16 * 150,
      seed: 42,
    },
  );
  const trades: Trade[] = [];
  const versions: number[] = [];
  const ids = new Set<string>();
  await Promise.all(
    engines.map(async (e, client) => {
      for (let n = 0; n < 150; n++) {
        const [buy, offset, lots, kind] = rng[client * 150 + n]!;
        const orderId = `k${client}-${n}`;
        ids.add(orderId);
        const base = { orderId, clientId: `client${client}`, symbol: "AAPL", side: buy ? "BUY" : "SELL" } as const;
        const command: EngineCommandInput =
          kind === 0
            ? { type: "MARKET", ...base, quantity: String(lots) }
            : kind === 1 && n > 0
              ? {
                  type: "CANCEL",
                  commandId: `x${client}-${n}`,
                  orderId: `k${client}-${n - 1}`,
                  clientId: base.clientId,
                  symbol: "AAPL",
                }
              : { type: "LIMIT", ...base, price: fromUnits(10_000n + BigInt(offset), "0.01"), quantity: String(lots) };
        const result = await e.execute(command);
        trades.push(...result.trades);
        versions.push(result.version!);
      }
    }),
  );
  expect(trades.map((t) => t.sequence).sort((a, b) => a - b)).toEqual(trades.map((_, i) => i + 1));
  expect(new Set(trades.map((t) => t.tradeId)).size).toBe(trades.length);
  expect(trades.length).toBeGreaterThan(100);
  // Every command reached the book, each got its own version: 1..n, none lost, none shared.
  expect(versions.sort((a, b) => a - b)).toEqual(versions.map((_, i) => i + 1));
  await checkInvariants(engine, "AAPL", ids, trades);
  await Promise.all(clients.map((c) => c.quit()));
});
