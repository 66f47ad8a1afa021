// A MatchingEngine on the harness's real redis-server, plus the book invariants every test can check.
import { compareDecimal, toUnits } from "@tradeflow/common/decimal";
import { instrumentRegistry, SAMPLE_INSTRUMENTS } from "@tradeflow/common/instruments";
import { MatchingEngine, type Trade } from "@tradeflow/common/orderbook";
import { Redis } from "ioredis";
import { redisDbUrl } from "./redis-db";

export const instruments = instrumentRegistry(SAMPLE_INSTRUMENTS);

/** A connection to one of the harness's logical databases (./redis-db.ts: one per file that flushes). */
export function connect(db: number): Redis {
  return new Redis(redisDbUrl(db), { enableAutoPipelining: true });
}

export function engineOn(redis: Redis, idempotencyTtlSeconds?: number): MatchingEngine {
  return new MatchingEngine({ redis, instruments, ...(idempotencyTtlSeconds ? { idempotencyTtlSeconds } : {}) });
}

const lots = (symbol: string, v: string) => {
  const r = toUnits(v, instruments.get(symbol)!.lotSize, 10n ** 18n);
  if (r.ok) return r.units;
  if (v === "0") return 0n;
  throw new Error(`not a quantity: ${v}`);
};

/**
 * Checks, against the engine's own queries: the book is not crossed; for every order,
 * quantity = filled + resting + cancelled with `filled` equal to the sum of its trades (as maker, taker, or taker
 * again after an amend) and a status that follows from them (self-trade prevention and amends cancel parts of
 * live orders); resting orders add up to the depth levels; buy fills equal sell fills.
 */
export async function checkInvariants(
  engine: MatchingEngine,
  symbol: string,
  orderIds: Iterable<string>,
  trades: readonly Trade[],
): Promise<void> {
  const book = await engine.depth(symbol, 100_000);
  const [bid, ask] = [book.bids[0], book.asks[0]];
  if (bid && ask) expect(compareDecimal(bid.price, ask.price)).toBe(-1);

  const tradedBy = new Map<string, bigint>();
  for (const t of trades.filter((x) => x.symbol === symbol)) {
    for (const id of [t.makerOrderId, t.takerOrderId])
      tradedBy.set(id, (tradedBy.get(id) ?? 0n) + lots(symbol, t.quantity));
  }
  const resting = new Map<string, { lots: bigint; orders: number }>();
  const fills = { BUY: 0n, SELL: 0n };
  const views = await Promise.all([...new Set(orderIds)].map((id) => engine.getOrder(symbol, id)));
  for (const v of views) {
    if (!v) continue;
    const [qty, filled, remaining, cancelled] = [
      v.quantity,
      v.filledQuantity,
      v.remainingQuantity,
      v.cancelledQuantity,
    ].map((x) => lots(symbol, x)) as [bigint, bigint, bigint, bigint];
    expect({ id: v.orderId, filled }).toEqual({ id: v.orderId, filled: tradedBy.get(v.orderId) ?? 0n });
    expect(qty).toBe(filled + remaining + cancelled);
    const status =
      remaining > 0n ? (filled > 0n ? "PARTIALLY_FILLED" : "NEW") : cancelled > 0n ? "CANCELLED" : "FILLED";
    expect({ id: v.orderId, status: v.status }).toEqual({ id: v.orderId, status });
    fills[v.side] += filled;
    if (remaining > 0n) {
      const key = `${v.side}:${v.price}`;
      const level = resting.get(key) ?? { lots: 0n, orders: 0 };
      resting.set(key, { lots: level.lots + remaining, orders: level.orders + 1 });
    }
  }
  expect(fills.BUY).toBe(fills.SELL);
  const levels = new Map<string, { lots: bigint; orders: number }>();
  for (const [side, list] of [
    ["BUY", book.bids],
    ["SELL", book.asks],
  ] as const) {
    for (const l of list) levels.set(`${side}:${l.price}`, { lots: lots(symbol, l.quantity), orders: l.orders });
  }
  expect(levels).toEqual(resting);
}
