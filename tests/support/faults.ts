// Shared by the fault suites: a seeded stream of orders and cancels, streamed with back-pressure, and the two
// checks every fault must pass afterwards. Accounting: each event ends in exactly one place (recorded, rejected,
// the failed-executions queue or the rule's dead-letter queue), none nowhere and none in two. Conservation: every
// order's META is the engine's state of it and adds up, and per symbol the trades are contiguous, buys equal sells,
// and the book holds exactly what the open orders say rests.
import { setTimeout as sleep } from "node:timers/promises";
import type { PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import type { Message } from "@aws-sdk/client-sqs";
import { OrderStateSchema } from "@tradeflow/common/contracts";
import { instrumentRegistry, SAMPLE_INSTRUMENTS } from "@tradeflow/common/instruments";
import { MatchingEngine, type Trade } from "@tradeflow/common/orderbook";
import { Redis } from "ioredis";
import type { LocalStack } from "../../local/stack";
import {
  cancelRequested,
  canonicalJson,
  drainQueue,
  type Item,
  orderSubmitted,
  type PipelineClients,
  putEvents,
  scaled,
  scanTable,
  seededRandom,
} from "./pipeline";

interface Market {
  symbol: string;
  mid: number;
  /** Decimal places of a price and of a quantity on this instrument's grid. */
  priceDp: number;
  qtyDp: number;
  minQty: number;
  maxQty: number;
}

export const FAULT_MARKETS: readonly Market[] = [
  { symbol: "AAPL", mid: 100, priceDp: 2, qtyDp: 0, minQty: 1, maxQty: 50 },
  { symbol: "BTC-USD", mid: 60_000, priceDp: 2, qtyDp: 4, minQty: 0.01, maxQty: 0.5 },
  { symbol: "ETH-USD", mid: 3_000, priceDp: 2, qtyDp: 3, minQty: 0.1, maxQty: 5 },
];

export interface SentOrder {
  /** Its entry's position in the stream. */
  entry: number;
  orderId: string;
  clientId: string;
  symbol: string;
  side: "BUY" | "SELL";
  quantity: string;
}

export interface FaultStream {
  entries: PutEventsRequestEntry[];
  orders: SentOrder[];
  cancels: number;
}

/**
 * Limit orders around each symbol's mid (buys from 1 % below to 0.5 % above, sells the mirror image, so that about a
 * third cross), a tenth of them IOC, and cancels (by the order's own client) of earlier orders. Decimal strings come
 * from integer ticks and lots; ids are `<prefix>-<n>`, so the same stream sent again is a replay.
 */
export function faultStream(bus: string, options: { seed: number; events: number; prefix: string }): FaultStream {
  const random = seededRandom(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const units = (value: number, dp: number) => Math.round(value * 10 ** dp);
  const decimal = (u: number, dp: number) => (dp === 0 ? String(u) : (u / 10 ** dp).toFixed(dp));
  const entries: PutEventsRequestEntry[] = [];
  const orders: SentOrder[] = [];
  let cancels = 0;
  for (let i = 0; i < options.events; i++) {
    const market = pick(FAULT_MARKETS);
    const earlier = orders.filter((o) => o.symbol === market.symbol);
    if (earlier.length > 3 && random() < 0.15) {
      const target = pick(earlier);
      entries.push(
        cancelRequested(bus, {
          clientId: target.clientId,
          orderId: target.orderId,
          symbol: market.symbol,
          idempotencyKey: `${options.prefix}-cx-${i}`,
        }),
      );
      cancels += 1;
      continue;
    }
    const side = random() < 0.5 ? "BUY" : "SELL";
    const offset = (side === "BUY" ? -1 + 1.5 * random() : -0.5 + 1.5 * random()) / 100;
    const price = decimal(units(market.mid * (1 + offset), market.priceDp), market.priceDp);
    const qtyUnits = units(market.minQty + (market.maxQty - market.minQty) * random(), market.qtyDp);
    const order: SentOrder = {
      entry: entries.length,
      orderId: `${options.prefix}-${i}`,
      clientId: `client-${Math.floor(random() * 5)}`,
      symbol: market.symbol,
      side,
      quantity: decimal(Math.max(1, qtyUnits), market.qtyDp),
    };
    orders.push(order);
    const { entry: _, ...detail } = order;
    entries.push(orderSubmitted(bus, { ...detail, price, ...(random() < 0.1 && { timeInForce: "IOC" as const }) }));
  }
  return { entries, orders, cancels };
}

/**
 * Puts the entries five at a time, never more than `inFlight` executions running; `afterBatch` sees how many events
 * are in (to inject its fault). Returns the event ids and when each was put.
 */
export async function streamEvents(
  stack: LocalStack,
  c: PipelineClients,
  entries: readonly PutEventsRequestEntry[],
  options: { inFlight: number; afterBatch?: (sent: number) => Promise<void> | void },
): Promise<{ eventIds: string[]; sentAt: number[] }> {
  const eventIds: string[] = [];
  const sentAt: number[] = [];
  for (let i = 0; i < entries.length; i += 5) {
    while (stack.machine.runningCount >= options.inFlight) await sleep(10);
    const batch = entries.slice(i, i + 5);
    eventIds.push(...(await putEvents(c.events, batch)));
    sentAt.push(...batch.map(() => Date.now()));
    await options.afterBatch?.(eventIds.length);
  }
  return { eventIds, sentAt };
}

export interface Accounting {
  recorded: number;
  rejected: number;
  failedQueue: number;
  deadLetters: number;
  /** Events found nowhere. */
  lost: string[];
  /** Events found in more than one place (recorded and failed, say). */
  twice: string[];
  items: Item[];
  failedMessages: Message[];
}

const eventIdOfMessage = (m: Message): string | undefined => {
  const body = JSON.parse(m.Body ?? "{}") as { id?: unknown; event?: { id?: unknown } };
  const id = body.event?.id ?? body.id;
  return typeof id === "string" ? id : undefined;
};

/** Where each event ended: drains the failed-executions queue and the rule's dead-letter queue. */
export async function accountEvents(
  stack: LocalStack,
  c: PipelineClients,
  eventIds: readonly string[],
): Promise<Accounting> {
  const items = await scanTable(c.doc, stack.resources.tables.ComplianceTable ?? "");
  const failedMessages = await drainQueue(c.sqs, stack.resources.queues.FailedExecutionsQueue ?? "");
  const deadLetters = await drainQueue(c.sqs, stack.resources.queues.EventRuleDeadLetterQueue ?? "");
  const recorded = new Set(
    items.filter((i) => i.entity !== "REJECTION" && i.entity !== "EVENT").map((i) => String(i.eventId)),
  );
  const rejected = new Set(items.filter((i) => i.entity === "REJECTION").map((i) => String(i.pk).slice(10)));
  const failed = new Set(failedMessages.map(eventIdOfMessage));
  const dead = new Set(deadLetters.map(eventIdOfMessage));
  const places = (id: string) => [recorded, rejected, failed, dead].filter((s) => s.has(id)).length;
  const count = (s: Set<string | undefined>) => eventIds.filter((id) => s.has(id)).length;
  return {
    recorded: count(recorded),
    rejected: count(rejected),
    failedQueue: count(failed),
    deadLetters: count(dead),
    lost: eventIds.filter((id) => places(id) === 0),
    twice: eventIds.filter((id) => places(id) > 1),
    items,
    failedMessages,
  };
}

const sum = (values: Iterable<bigint>) => [...values].reduce((a, b) => a + b, 0n);

/**
 * Every disagreement between the compliance table and the engine, per order and per symbol; empty when all agree.
 * Each is listed with both views, so a failure names every order concerned.
 */
export async function conservationProblems(
  stack: LocalStack,
  items: readonly Item[],
  orders: readonly SentOrder[],
): Promise<unknown[]> {
  const redis = new Redis(stack.redisUrl);
  try {
    const engine = new MatchingEngine({ redis, instruments: instrumentRegistry(SAMPLE_INSTRUMENTS) });
    const entity = (name: string) => items.filter((i) => i.entity === name);
    const versions = entity("ORDER_VERSION");
    const fillsOf = new Map<string, Map<string, Trade>>();
    const recordedTrades = new Map<string, Trade>();
    const problems: unknown[] = [];
    for (const v of versions) {
      const orderId = String(v.orderId);
      const fills = fillsOf.get(orderId) ?? new Map<string, Trade>();
      for (const t of v.trades as Trade[]) {
        if (t.makerOrderId === orderId || t.takerOrderId === orderId) fills.set(t.tradeId, t);
        const seen = recordedTrades.get(t.tradeId);
        if (seen && canonicalJson(seen) !== canonicalJson(t)) problems.push({ trade: t.tradeId, seen, t });
        recordedTrades.set(t.tradeId, t);
      }
      fillsOf.set(orderId, fills);
    }
    const fills = (orderId: string) => [...(fillsOf.get(orderId)?.values() ?? [])];

    const metas = new Map(entity("ORDER").map((m) => [String(m.orderId), m]));
    const stateFields = Object.keys(OrderStateSchema.shape);
    for (const order of orders) {
      const m = metas.get(order.orderId) ?? {};
      const view = await engine.getOrder(order.symbol, order.orderId);
      const recorded = Object.fromEntries(stateFields.map((f) => [f, m[f]]));
      const [q, f, r, x] = [m.quantity, m.filledQuantity, m.remainingQuantity, m.cancelledQuantity].map((v) =>
        scaled(String(v ?? "0")),
      );
      const filledByTrades = sum(fills(order.orderId).map((t) => scaled(t.quantity)));
      const wrong = [
        canonicalJson(recorded) === canonicalJson(view) ? "" : "META differs from the engine's order",
        order.clientId === m.clientId && q === scaled(order.quantity) ? "" : "META is not the order sent",
        q === (f ?? 0n) + (r ?? 0n) + (x ?? 0n) ? "" : "quantity ≠ filled + remaining + cancelled",
        filledByTrades === f ? "" : `its fills add up to ${filledByTrades}e-8, not its filledQuantity`,
      ].filter(Boolean);
      if (wrong.length) problems.push({ orderId: order.orderId, wrong, recorded, engine: view });
    }

    for (const { symbol } of FAULT_MARKETS) {
      const depth = await engine.depth(symbol, 10_000);
      const mine = [...recordedTrades.values()].filter((t) => t.symbol === symbol);
      const ids = mine.map((t) => t.tradeId).sort();
      const expected = Array.from({ length: depth.tradeSequence }, (_, i) => `${symbol}-${i + 1}`).sort();
      if (canonicalJson(ids) !== canonicalJson(expected)) problems.push({ symbol, trades: ids, engine: expected });
      const traded = sum(mine.map((t) => scaled(t.quantity)));
      const symbolOrders = orders.filter((o) => o.symbol === symbol);
      const filled = (side: "BUY" | "SELL") =>
        sum(
          symbolOrders.filter((o) => o.side === side).flatMap((o) => fills(o.orderId).map((t) => scaled(t.quantity))),
        );
      if (filled("BUY") !== traded || filled("SELL") !== traded) {
        problems.push({ symbol, traded, bought: filled("BUY"), sold: filled("SELL") });
      }
      const open = symbolOrders.filter((o) =>
        ["NEW", "PARTIALLY_FILLED"].includes(String(metas.get(o.orderId)?.status)),
      );
      const resting = (side: "BUY" | "SELL") =>
        sum(open.filter((o) => o.side === side).map((o) => scaled(String(metas.get(o.orderId)?.remainingQuantity))));
      const levels = (side: typeof depth.bids) => sum(side.map((l) => scaled(l.quantity)));
      if (levels(depth.bids) !== resting("BUY") || levels(depth.asks) !== resting("SELL")) {
        problems.push({
          symbol,
          book: [levels(depth.bids), levels(depth.asks)],
          open: [resting("BUY"), resting("SELL")],
        });
      }
      const [bid, ask] = [depth.bids[0], depth.asks[0]];
      if (bid && ask && scaled(bid.price) >= scaled(ask.price)) problems.push({ symbol, crossed: [bid, ask] });
    }
    return problems;
  } finally {
    redis.disconnect();
  }
}

/**
 * The end of every fault: each event recorded or rejected, none in a queue, lost or in two places, and the table and
 * the engine agree. Prints the counts under `label` (with `extra`), for the record of what the fault did.
 */
export async function expectAllRecorded(
  label: string,
  stack: LocalStack,
  c: PipelineClients,
  eventIds: readonly string[],
  orders: readonly SentOrder[],
  extra: Record<string, unknown> = {},
): Promise<Item[]> {
  const { items, failedMessages: _, ...counts } = await accountEvents(stack, c, eventIds);
  console.info(`${label}:`, JSON.stringify({ sent: eventIds.length, ...extra, ...counts }));
  expect(counts).toEqual({
    recorded: eventIds.length - counts.rejected,
    rejected: counts.rejected,
    failedQueue: 0,
    deadLetters: 0,
    lost: [],
    twice: [],
  });
  expect(await conservationProblems(stack, items, orders)).toEqual([]);
  return items;
}
