// Redis dies mid-stream. A seeded stream of a few hundred orders and cancels over three symbols goes through
// PutEvents while redis-server is killed (SIGKILL) and started again on the same port and append-only file. The
// matcher's MatcherUnavailableError is retried by the ASL (Match: 4 retries), the functions' ioredis connections
// reconnect on their own, and afterwards nothing is lost or doubled: every execution succeeded, every order has
// its one META equal to the engine's view of it, trade ids are contiguous per symbol, the compliance table's trades
// are exactly the engine's, and quantity is conserved per order and per symbol.
//
// This suite starts its own stack (its own redis-server, DynamoDB Local and moto): it kills its Redis.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import { OrderStateSchema } from "@tradeflow/common/contracts";
import { instrumentRegistry, SAMPLE_INSTRUMENTS } from "@tradeflow/common/instruments";
import { MatchingEngine, type Trade } from "@tradeflow/common/orderbook";
import { Redis } from "ioredis";
import { type LocalServer, startRedis } from "../../local/servers";
import { type LocalStack, startLocalStack } from "../../local/stack";
import type { Execution } from "../../local/workflow";
import {
  cancelRequested,
  canonicalJson,
  drainQueue,
  envelopeOf,
  orderSubmitted,
  outputOf,
  type PipelineClients,
  pipelineClients,
  putEvents,
  queueCounts,
  scaled,
  scanTable,
  seededRandom,
} from "../support/pipeline";

const SEED = 424242;
const EVENTS = 300;
/** Executions allowed in flight while streaming: what this machine's DynamoDB Local absorbs well within timeouts. */
const IN_FLIGHT = 16;
/** Redis dies once this many events have been put. */
const KILL_AFTER = 100;
/**
 * Every Task retry waits this long (the ASL's 1 s × 2^n with jitter, compressed and made constant). Match retries 4
 * times, so an execution whose Match meets a dead Redis keeps trying for at least 4 × 2 s = 8 s; Redis is back after
 * at most OUTAGE_MAX_MS plus ioredis' reconnect delay (≤ 1 s). Ample on a loaded two-core machine.
 */
const TASK_RETRY_MS = 2000;
const OUTAGE_MIN_MS = 1500;
const OUTAGE_MAX_MS = 4000;

interface Market {
  symbol: string;
  mid: number;
  /** Decimal places of a price and of a quantity on this instrument's grid. */
  priceDp: number;
  qtyDp: number;
  minQty: number;
  maxQty: number;
}

const MARKETS: readonly Market[] = [
  { symbol: "AAPL", mid: 100, priceDp: 2, qtyDp: 0, minQty: 1, maxQty: 50 },
  { symbol: "BTC-USD", mid: 60_000, priceDp: 2, qtyDp: 4, minQty: 0.01, maxQty: 0.5 },
  { symbol: "ETH-USD", mid: 3_000, priceDp: 2, qtyDp: 3, minQty: 0.1, maxQty: 5 },
];

interface SentOrder {
  /** Its entry's position in the stream. */
  entry: number;
  orderId: string;
  clientId: string;
  symbol: string;
  side: "BUY" | "SELL";
  quantity: string;
}

/**
 * The stream: limit orders around each symbol's mid (buys from 1 % below to 0.5 % above, sells the mirror image, so
 * that about a third cross), a tenth of them IOC, and cancels (by the order's own client) of earlier orders.
 * Decimal strings come from integer ticks and lots; ids are deterministic.
 */
function buildStream(bus: string): { entries: PutEventsRequestEntry[]; orders: SentOrder[]; cancels: number } {
  const random = seededRandom(SEED);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const units = (value: number, dp: number) => Math.round(value * 10 ** dp);
  const decimal = (u: number, dp: number) => (dp === 0 ? String(u) : (u / 10 ** dp).toFixed(dp));
  const entries: PutEventsRequestEntry[] = [];
  const orders: SentOrder[] = [];
  let cancels = 0;
  for (let i = 0; i < EVENTS; i++) {
    const market = pick(MARKETS);
    const earlier = orders.filter((o) => o.symbol === market.symbol);
    if (earlier.length > 3 && random() < 0.15) {
      const target = pick(earlier);
      entries.push(
        cancelRequested(bus, {
          clientId: target.clientId,
          orderId: target.orderId,
          symbol: market.symbol,
          idempotencyKey: `F${SEED}-cx-${i}`,
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
      orderId: `F${SEED}-${i}`,
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

const sum = (values: Iterable<bigint>) => [...values].reduce((a, b) => a + b, 0n);
const matchRetries = (e: Execution) =>
  e.trace.filter((s) => s.state === "Match").flatMap((s) => s.retries.map((r) => r.error));

let dataDir: string;
let stack: LocalStack;
let c: PipelineClients;
let restart: Promise<void> | undefined;
let restarted: LocalServer | undefined;
let redis: Redis | undefined;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "tradeflow-faults-redis-"));
  stack = await startLocalStack({
    redisDataDir: dataDir,
    stage: "faults",
    timing: { taskRetryMs: TASK_RETRY_MS, eventRetryBaseMs: 10, sqsRetryVisibilitySeconds: 1 },
  });
  c = pipelineClients(stack);
}, 180_000);

afterAll(async () => {
  await restart?.catch(() => undefined);
  redis?.disconnect();
  c?.destroy();
  await stack?.stop();
  await restarted?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

it("a Redis kill and restart mid-stream loses and duplicates nothing", async () => {
  const original = stack.redis;
  if (!original) throw new Error("the stack started no redis-server of its own");
  const bus = stack.resources.bus;
  const { entries, orders, cancels } = buildStream(bus);
  expect(cancels).toBeGreaterThan(20);

  // Stream with back-pressure; kill Redis after KILL_AFTER events and start it again on the same port and data
  // directory once the outage has lasted OUTAGE_MIN_MS and Match retries are under way (at most OUTAGE_MAX_MS).
  const eventIds: string[] = [];
  const sentAt: number[] = [];
  const outage = { killedAt: 0, restartedAt: 0, retryingAtRestart: 0 };
  for (let i = 0; i < entries.length; i += 5) {
    while (stack.machine.runningCount >= IN_FLIGHT) await sleep(10);
    eventIds.push(...(await putEvents(c.events, entries.slice(i, i + 5))));
    sentAt.push(...entries.slice(i, i + 5).map(() => Date.now()));
    if (!restart && eventIds.length >= KILL_AFTER) {
      const exited = new Promise((resolve) => original.process.once("exit", resolve));
      original.process.kill("SIGKILL");
      await exited;
      outage.killedAt = Date.now();
      restart = (async () => {
        const retrying = () =>
          stack.machine
            .list("RUNNING")
            .filter((e) => e.trace.some((s) => s.state === "Match" && (s.failed || s.retries.length > 0))).length;
        await sleep(OUTAGE_MIN_MS);
        while (retrying() < 3 && Date.now() - outage.killedAt < OUTAGE_MAX_MS) await sleep(50);
        outage.retryingAtRestart = retrying();
        restarted = await startRedis(original.port, { dataDir });
        outage.restartedAt = Date.now();
      })();
    }
  }
  await restart;
  await stack.idle();
  expect(outage.restartedAt - outage.killedAt).toBeGreaterThanOrEqual(OUTAGE_MIN_MS);
  expect(eventIds).toHaveLength(EVENTS);

  // Every event ran exactly once, and succeeded; some had to retry Match while Redis was down.
  const executions = stack.machine.list();
  const statuses = new Map<string, string>();
  for (const e of executions) statuses.set(envelopeOf(e).id, e.status);
  expect(executions).toHaveLength(EVENTS);
  expect([...statuses.keys()].sort()).toEqual([...eventIds].sort());
  expect(executions.filter((e) => e.status !== "SUCCEEDED").map((e) => [e.status, e.error, e.trace])).toEqual([]);
  const retried = executions.filter((e) => matchRetries(e).length > 0);
  // (The outage's timing is in the message if this fails.)
  expect({ retried: retried.length > 0, outage }).toEqual({ retried: true, outage });
  for (const e of retried) {
    expect(new Set(matchRetries(e))).toEqual(new Set(["MatcherUnavailableError"]));
    const match = e.trace.find((s) => s.state === "Match");
    expect(match?.attempts).toBe((match?.retries.length ?? 0) + 1);
  }
  expect(await drainQueue(c.sqs, stack.resources.queues.FailedExecutionsQueue ?? "")).toEqual([]);
  expect(await queueCounts(c.sqs, stack.resources.queues.EventRuleDeadLetterQueue ?? "")).toEqual({
    visible: 0,
    inFlight: 0,
    delayed: 0,
  });
  expect(stack.bus.metrics).toMatchObject({ MatchedEvents: EVENTS, FailedInvocations: 0, InvocationsSentToDlq: 0 });

  // The engine's own trades, as Match returned them (a replayed result repeats the original trades exactly).
  const engineTrades = new Map<string, Trade>();
  for (const e of executions) {
    const validated = (outputOf(e).processed as { validated?: { match?: { trades?: Trade[] } } }).validated;
    for (const t of validated?.match?.trades ?? []) {
      const seen = engineTrades.get(t.tradeId);
      if (seen) expect(t).toEqual(seen);
      engineTrades.set(t.tradeId, t);
    }
  }
  expect(engineTrades.size).toBeGreaterThan(30);

  // The engine after the restart: its books came back from the append-only file.
  redis = new Redis(stack.redisUrl);
  const engine = new MatchingEngine({ redis, instruments: instrumentRegistry(SAMPLE_INSTRUMENTS) });

  const items = await scanTable(c.doc, stack.resources.tables.ComplianceTable ?? "");
  const entity = (name: string) => items.filter((i) => i.entity === name);

  // Orders have no receipts. No rejections but the engine's refusals of cancels (of an order already done, or not
  // there yet: cancels race their orders); every cancel either cancelled its order or was refused.
  expect(entity("EVENT")).toEqual([]);
  const rejections = entity("REJECTION");
  expect(
    rejections.filter(
      (r) =>
        r.stage !== "ENGINE" ||
        r.detailType !== "Order Cancel Requested" ||
        !["UNKNOWN_ORDER", "ORDER_NOT_OPEN"].includes(String((r.reasons as string[])[0])),
    ),
  ).toEqual([]);
  const versions = entity("ORDER_VERSION");
  expect(versions.filter((v) => v.cause === "CANCEL").length + rejections.length).toBe(cancels);

  // The enricher degraded while Redis was down (its top of book "unavailable") and reconnected on its own: no
  // order put after the restart (and a reconnect delay) met a connection error; a slow answer is not one.
  const submits = new Map(versions.filter((v) => v.cause === "SUBMIT").map((v) => [String(v.orderId), v]));
  const defaulted = (o: SentOrder) =>
    ((submits.get(o.orderId)?.enrichment as { defaulted?: string[] } | undefined)?.defaulted ?? []).join("; ");
  expect(orders.filter((o) => /topOfBook: redis unavailable/.test(defaulted(o))).length).toBeGreaterThan(0);
  const later = orders.filter((o) => (sentAt[o.entry] ?? 0) > outage.restartedAt + 2000);
  expect(later.length).toBeGreaterThan(50);
  expect(later.filter((o) => /redis unavailable/.test(defaulted(o))).map((o) => [o.orderId, defaulted(o)])).toEqual([]);

  // An order's fills: the trades it took part in, over its versions, each once.
  const fillsOf = new Map<string, Map<string, Trade>>();
  for (const v of versions) {
    const orderId = String(v.orderId);
    const fills = fillsOf.get(orderId) ?? new Map<string, Trade>();
    for (const t of v.trades as Trade[]) {
      if (t.makerOrderId === orderId || t.takerOrderId === orderId) fills.set(t.tradeId, t);
    }
    fillsOf.set(orderId, fills);
  }
  const fills = (orderId: string) => [...(fillsOf.get(orderId)?.values() ?? [])];

  // Each order: exactly one META, equal to the engine's state of it; quantity = filled + remaining + cancelled; its
  // fills add up to its filled quantity.
  const metas = new Map(entity("ORDER").map((m) => [String(m.orderId), m]));
  expect(entity("ORDER")).toHaveLength(orders.length);
  expect([...metas.keys()].sort()).toEqual(orders.map((o) => o.orderId).sort());
  const stateFields = Object.keys(OrderStateSchema.shape);
  // All disagreements are collected, so that a failure lists every order concerned with both views.
  const disagreements: unknown[] = [];
  for (const order of orders) {
    const m = metas.get(order.orderId) ?? {};
    const view = await engine.getOrder(order.symbol, order.orderId);
    const recorded = Object.fromEntries(stateFields.map((f) => [f, m[f]]));
    const [q, f, r, x] = [m.quantity, m.filledQuantity, m.remainingQuantity, m.cancelledQuantity].map((v) =>
      scaled(String(v ?? "0")),
    );
    const filledByTrades = sum(fills(order.orderId).map((t) => scaled(t.quantity)));
    const problems = [
      canonicalJson(recorded) === canonicalJson(view) ? "" : "META differs from the engine's order",
      order.clientId === m.clientId && q === scaled(order.quantity) ? "" : "META is not the order sent",
      q === (f ?? 0n) + (r ?? 0n) + (x ?? 0n) ? "" : "quantity ≠ filled + remaining + cancelled",
      filledByTrades === f ? "" : `its fills add up to ${filledByTrades}e-8, not its filledQuantity`,
    ].filter(Boolean);
    if (problems.length) disagreements.push({ orderId: order.orderId, problems, recorded, engine: view });
  }
  expect(disagreements).toEqual([]);

  // Trades: the compliance table's versions hold exactly the engine's trades, each the same wherever it appears;
  // per symbol the ids are <symbol>-1..n with n the engine's trade sequence; buys and sells fill the same
  // quantity, which is the traded quantity.
  const recordedTrades = new Map<string, Trade>();
  for (const t of versions.flatMap((v) => v.trades as Trade[])) {
    const seen = recordedTrades.get(t.tradeId);
    if (seen) expect(t).toEqual(seen);
    recordedTrades.set(t.tradeId, t);
  }
  expect(entity("TRADE")).toEqual([]);
  const byId = (a: Trade, b: Trade) => (a.tradeId < b.tradeId ? -1 : a.tradeId > b.tradeId ? 1 : 0);
  expect([...recordedTrades.values()].sort(byId)).toEqual([...engineTrades.values()].sort(byId));
  for (const { symbol } of MARKETS) {
    const depth = await engine.depth(symbol, 10_000);
    const mine = [...recordedTrades.values()].filter((t) => t.symbol === symbol);
    expect(mine.map((t) => t.tradeId).sort()).toEqual(
      Array.from({ length: depth.tradeSequence }, (_, i) => `${symbol}-${i + 1}`).sort(),
    );
    expect(mine.every((t) => t.tradeId === `${symbol}-${t.sequence}`)).toBe(true);
    const traded = sum(mine.map((t) => scaled(t.quantity)));
    const symbolOrders = orders.filter((o) => o.symbol === symbol);
    const filled = (side: "BUY" | "SELL") =>
      symbolOrders.filter((o) => o.side === side).flatMap((o) => fills(o.orderId));
    const bought = sum(filled("BUY").map((t) => scaled(t.quantity)));
    const sold = sum(filled("SELL").map((t) => scaled(t.quantity)));
    expect({ symbol, bought, sold }).toEqual({ symbol, bought: traded, sold: traded });
    expect(filled("BUY").length + filled("SELL").length).toBe(2 * mine.length);

    // What rests in the book is what the open orders' META say rests, side by side; the book is not crossed.
    const open = orders.filter(
      (o) => o.symbol === symbol && ["NEW", "PARTIALLY_FILLED"].includes(String(metas.get(o.orderId)?.status)),
    );
    const resting = (side: "BUY" | "SELL") =>
      sum(open.filter((o) => o.side === side).map((o) => scaled(String(metas.get(o.orderId)?.remainingQuantity))));
    const levels = (side: typeof depth.bids) => sum(side.map((l) => scaled(l.quantity)));
    expect({ symbol, bids: levels(depth.bids), asks: levels(depth.asks) }).toEqual({
      symbol,
      bids: resting("BUY"),
      asks: resting("SELL"),
    });
    const [bid, ask] = [depth.bids[0], depth.asks[0]];
    if (bid && ask) expect(scaled(bid.price)).toBeLessThan(scaled(ask.price));
  }
}, 240_000);
