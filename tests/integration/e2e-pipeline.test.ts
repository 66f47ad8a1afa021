// The whole local pipeline, end to end, through its real entry points: PutEvents on the stack's gateway, the
// template's rules, the ASL on the local Step Functions runtime, the function bundles, redis-server (db 7),
// DynamoDB Local and moto. Every test puts events, waits for the stack to be idle, and reads what the pipeline left
// behind: compliance and alerts tables, queues, the SNS topic's inbox, executions and their histories.
//
// Each test trades its own symbol (added to the stage's SSM instrument registry before the first event), so its
// trade ids, versions, price bands and alert zones do not depend on the other tests. An order's records are checked
// against the engine's own state of it (read from the books in Redis). The last test replays every event the file
// sent and requires the final state to be byte-identical.

import { setTimeout as sleep } from "node:timers/promises";
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type GetExecutionHistoryCommandOutput,
  type HistoryEvent,
  ListExecutionsCommand,
  type ListExecutionsCommandOutput,
  StartExecutionCommand,
  StartSyncExecutionCommand,
} from "@aws-sdk/client-sfn";
import { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import { jest } from "@jest/globals";
import type { OrderState, Trade } from "@tradeflow/common/contracts";
import { type Instrument, instrumentRegistry, SAMPLE_INSTRUMENTS } from "@tradeflow/common/instruments";
import { MatchingEngine } from "@tradeflow/common/orderbook";
import { Redis } from "ioredis";
import type { EventEnvelope } from "../../local/events/bus";
import { type LocalStack, startLocalStack } from "../../local/stack";
import type { Execution } from "../../local/stepfunctions/workflow";
import {
  addInstruments,
  cancelRequested,
  canonicalJson,
  clock,
  content,
  drainQueue,
  entry,
  envelopeOf,
  executionOf,
  executionsOf,
  getItem,
  type Item,
  ORDERS,
  orderSubmitted,
  outputOf,
  type PipelineClients,
  pipelineClients,
  putAndRun,
  putAndSettle,
  putEvents,
  queryPartition,
  queueCounts,
  redisDump,
  sampleEntries,
  scanTable,
  seededRandom,
  shuffled,
  snsNotification,
  stringAttributes,
} from "../support/pipeline";
import { REDIS_DB, redisDbUrl } from "../support/redis-db";

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through the integration project (it starts the servers)`);
  return value;
}

const testInstrument = (symbol: string, status: Instrument["status"] = "TRADING"): Instrument => ({
  symbol,
  baseCurrency: "TEST",
  quoteCurrency: "USD",
  tickSize: "0.01",
  lotSize: "1",
  status,
  maxQuantity: "100000",
  maxNotional: "10000000",
  priceBandBps: 2000,
  selfTradePrevention: "CANCEL_NEWEST",
});

const SYMBOLS = {
  book: "E2E-BOOK",
  part: "E2E-PART",
  cancel: "E2E-CXL",
  alert: "E2E-ALERT",
  sfn: "E2E-SFN",
  fail: "E2E-FAIL",
  retry: "E2E-RETRY",
  halted: "E2E-HALT",
  outOfOrder: "E2E-OOO",
  band: "E2E-BAND",
} as const;

const INSTRUMENTS = [
  ...Object.values(SYMBOLS)
    .filter((s) => s !== SYMBOLS.halted)
    .map((s) => testInstrument(s)),
  testInstrument(SYMBOLS.halted, "HALTED"),
];

let stack: LocalStack;
let c: PipelineClients;
let redis: Redis;
let engine: MatchingEngine;
let compliance: string;
let alerts: string;

const bus = () => stack.resources.bus;
const queue = (logicalId: string) => {
  const url = stack.resources.queues[logicalId];
  if (!url) throw new Error(`the stack has no queue ${logicalId}`);
  return url;
};
const inbox = () => {
  const url = stack.topicInboxes.AlertTopic;
  if (!url) throw new Error("the stack has no AlertTopic inbox");
  return url;
};
const meta = (pk: string) => getItem(c.doc, compliance, pk, "META");
const iso = (d: Date) => d.toISOString();
const stateNames = (e: Execution) => e.trace.map((s) => s.state);
const versionKey = (version: number) => `V#${String(version).padStart(15, "0")}`;
const versions = (orderId: string) => queryPartition(c.doc, compliance, `ORDER#${orderId}`, "V#");

/** The engine's own state of an order, read from its book. */
async function engineState(symbol: string, orderId: string): Promise<OrderState> {
  const state = await engine.getOrder(symbol, orderId);
  if (!state) throw new Error(`the engine does not know ${symbol}/${orderId}`);
  return state;
}

/** An order's META: its state exactly as the engine reported it, indexed by client and submit time. */
const metaItem = (state: OrderState) => ({
  pk: `ORDER#${state.orderId}`,
  sk: "META",
  entity: "ORDER",
  ...state,
  gsi2pk: `CLIENT#${state.clientId}`,
  gsi2sk: `${iso(new Date(state.submittedAt))}#${state.orderId}`,
});

/** Checks that an order's META is the engine's current state of it, and returns that state. */
async function expectMetaIsTheEngines(symbol: string, orderId: string): Promise<OrderState> {
  const state = await engineState(symbol, orderId);
  expect(content(await meta(`ORDER#${orderId}`))).toEqual(metaItem(state));
  return state;
}

/** The fills of an order: the trades it took part in, over its versions, each once, in trade order. */
async function fillsOf(orderId: string): Promise<Trade[]> {
  const fills = new Map<string, Trade>();
  for (const version of await versions(orderId)) {
    for (const t of version.trades as Trade[]) {
      if (t.makerOrderId === orderId || t.takerOrderId === orderId) fills.set(t.tradeId, t);
    }
  }
  return [...fills.values()].sort((a, b) => a.sequence - b.sequence);
}

/** The bySymbolTime index of a symbol: its trades (the taker's version of each command that traded), rejections. */
async function bySymbol(symbol: string): Promise<Item[]> {
  const { Items = [] } = await c.doc.send(
    new QueryCommand({
      TableName: compliance,
      IndexName: "bySymbolTime",
      KeyConditionExpression: "gsi1pk = :symbol",
      ExpressionAttributeValues: { ":symbol": `SYMBOL#${symbol}` },
    }),
  );
  return Items;
}

beforeAll(async () => {
  redis = new Redis(redisDbUrl(REDIS_DB.e2ePipeline));
  await redis.flushdb();
  engine = new MatchingEngine({ redis, instruments: instrumentRegistry([...SAMPLE_INSTRUMENTS, ...INSTRUMENTS]) });
  stack = await startLocalStack({
    servers: {
      redisUrl: redisDbUrl(REDIS_DB.e2ePipeline),
      dynamoEndpoint: env("DYNAMODB_ENDPOINT"),
      motoEndpoint: env("MOTO_ENDPOINT"),
    },
    stage: "e2e",
    timing: { taskRetryMs: 50, eventRetryBaseMs: 10, sqsRetryVisibilitySeconds: 1 },
  });
  c = pipelineClients(stack);
  compliance = stack.resources.tables.ComplianceTable ?? "";
  alerts = stack.resources.tables.AlertsTable ?? "";
  await addInstruments(c.ssm, stack.resources.configPath, INSTRUMENTS);
}, 120_000);

// Each test starts from a quiet stack: nothing running, the alert queue drained.
afterEach(() => stack.idle());

afterAll(async () => {
  c?.destroy();
  await stack?.stop();
  await redis?.quit();
});

describe("happy paths", () => {
  it("a resting order, then a crossing order: each order's META is the engine's state, with a version per change and its trades", async () => {
    const symbol = SYMBOLS.book;
    const at = clock("2025-06-03T10:00:00Z");
    const [sellEvent = ""] = await putAndRun(stack, c.events, [
      orderSubmitted(
        bus(),
        { clientId: "acme", orderId: "BOOK-S1", symbol, side: "SELL", price: "100.50", quantity: "40" },
        at(1),
      ),
    ]);

    const resting: OrderState = {
      orderId: "BOOK-S1",
      clientId: "acme",
      symbol,
      side: "SELL",
      orderType: "LIMIT",
      price: "100.5",
      status: "NEW",
      quantity: "40",
      filledQuantity: "0",
      remainingQuantity: "40",
      cancelledQuantity: "0",
      averagePrice: null,
      lastTradeId: null,
      version: 1,
      submittedAt: at(1).getTime(),
    };
    expect(await expectMetaIsTheEngines(symbol, "BOOK-S1")).toEqual(resting);
    const submitVersion = {
      pk: "ORDER#BOOK-S1",
      sk: versionKey(1),
      entity: "ORDER_VERSION",
      cause: "SUBMIT",
      ...resting,
      trades: [],
      eventId: sellEvent,
      timeInForce: "GTC",
      postOnly: false,
      idempotencyKey: null,
      enrichment: {
        // 100.5 × 40 = 4020; fees rounded half up to 2 decimals: 0.402 → 0.4 (1 bps), 1.005 → 1.01 (2.5 bps).
        notional: { amount: "4020", currency: "USD" },
        fees: { currency: "USD", makerBps: "1", takerBps: "2.5", maker: "0.4", taker: "1.01" },
        session: "CONTINUOUS",
        topOfBook: expect.objectContaining({ symbol, bid: null, lastTradePrice: null }),
        defaulted: [],
      },
    };
    expect((await versions("BOOK-S1")).map(content)).toEqual([submitVersion]);
    expect(stateNames(executionOf(stack, sellEvent))).toEqual([
      "IsEvent",
      "ProcessEvent",
      "Validate",
      "Enrich",
      "IsOrder",
      "Match",
      "Record",
    ]);

    const [buyEvent = ""] = await putAndSettle(stack, c.events, [
      orderSubmitted(
        bus(),
        { clientId: "globex", orderId: "BOOK-B1", symbol, side: "BUY", price: "101.00", quantity: "25" },
        at(5),
      ),
    ]);
    const tradeTime = iso(at(5));
    const trade: Trade = {
      tradeId: "E2E-BOOK-1",
      symbol,
      price: "100.5",
      quantity: "25",
      makerOrderId: "BOOK-S1",
      makerClientId: "acme",
      takerOrderId: "BOOK-B1",
      takerClientId: "globex",
      aggressorSide: "BUY",
      sequence: 1,
      timestamp: at(5).getTime(),
      makerRemainingQuantity: "15",
    };
    const filled: OrderState = {
      orderId: "BOOK-B1",
      clientId: "globex",
      symbol,
      side: "BUY",
      orderType: "LIMIT",
      price: "101",
      status: "FILLED",
      quantity: "25",
      filledQuantity: "25",
      remainingQuantity: "0",
      cancelledQuantity: "0",
      averagePrice: "100.5",
      lastTradeId: "E2E-BOOK-1",
      version: 2,
      submittedAt: at(5).getTime(),
    };
    const partiallyFilled: OrderState = {
      ...resting,
      status: "PARTIALLY_FILLED",
      filledQuantity: "25",
      remainingQuantity: "15",
      averagePrice: "100.5",
      lastTradeId: "E2E-BOOK-1",
      version: 2,
    };
    expect(await expectMetaIsTheEngines(symbol, "BOOK-B1")).toEqual(filled);
    expect(await expectMetaIsTheEngines(symbol, "BOOK-S1")).toEqual(partiallyFilled);

    // The taker's version carries the trade and is the symbol's record of it; the maker's fill is a version of its
    // own with the same trade. Both are in their client's index.
    const takerVersion = {
      pk: "ORDER#BOOK-B1",
      sk: versionKey(2),
      entity: "ORDER_VERSION",
      cause: "SUBMIT",
      ...filled,
      trades: [trade],
      eventId: buyEvent,
      timeInForce: "GTC",
      postOnly: false,
      idempotencyKey: null,
      enrichment: expect.objectContaining({ notional: { amount: "2525", currency: "USD" }, defaulted: [] }),
      gsi1pk: `SYMBOL#${symbol}`,
      gsi1sk: `${tradeTime}#BOOK-B1#2`,
      gsi2pk: "CLIENT#globex",
      gsi2sk: `${tradeTime}#BOOK-B1#2`,
    };
    expect((await versions("BOOK-B1")).map(content)).toEqual([takerVersion]);
    expect((await versions("BOOK-S1")).map(content)).toEqual([
      submitVersion,
      {
        pk: "ORDER#BOOK-S1",
        sk: versionKey(2),
        entity: "ORDER_VERSION",
        cause: "FILL",
        ...partiallyFilled,
        trades: [trade],
        eventId: buyEvent,
        gsi2pk: "CLIENT#acme",
        gsi2sk: `${tradeTime}#BOOK-S1#2`,
      },
    ]);
    expect((await bySymbol(symbol)).map(content)).toEqual([takerVersion]);
    // Nothing else: order events have no receipt, and an engine trade lives only in the versions.
    for (const eventId of [sellEvent, buyEvent]) expect(await meta(`EVENT#${eventId}`)).toBeUndefined();
    expect(await meta("TRADE#E2E-BOOK-1")).toBeUndefined();
    // The price tick reached the alerter: 100.5 is between the thresholds (50, 150), so a state and no alert.
    expect((await queryPartition(c.doc, alerts, `SYMBOL#${symbol}`)).map(content)).toEqual([
      expect.objectContaining({ sk: "STATE", zone: "BETWEEN", lastPrice: "100.5", lastTradeId: "E2E-BOOK-1" }),
    ]);
    expect(executionOf(stack, buyEvent).status).toBe("SUCCEEDED");
  });

  it("records a venue trade from each of alpha, beta and gamma in the canonical model", async () => {
    const ids: string[] = [];
    // One at a time: the alerter then sees them in this order (alpha, beta newer, gamma older than both).
    for (const file of ["trade-alpha.json", "trade-beta.json", "trade-gamma.json"]) {
      ids.push(...(await putAndSettle(stack, c.events, sampleEntries(file, bus()))));
    }
    const [alpha = "", beta = "", gamma = ""] = ids;
    const venueTrade = (eventId: string, source: string) => ({
      sk: "META",
      entity: "TRADE",
      origin: "VENUE",
      symbol: "AAPL",
      currency: "USD",
      eventId,
      source,
      enrichment: expect.objectContaining({ session: expect.any(String), defaulted: [] }),
    });
    expect(content(await meta("TRADE#alpha:A-77001"))).toEqual({
      ...venueTrade(alpha, "tradeflow.venue.alpha"),
      pk: "TRADE#alpha:A-77001",
      tradeId: "alpha:A-77001",
      venue: "alpha",
      venueTradeId: "A-77001",
      side: "BUY",
      price: "150.25",
      quantity: "200",
      executedAt: "2025-06-02T14:29:58.250Z",
      venueSequence: 77001,
      gsi1pk: "SYMBOL#AAPL",
      gsi1sk: "2025-06-02T14:29:58.250Z#alpha:A-77001",
    });
    expect(content(await meta("TRADE#beta:B-5521"))).toEqual({
      ...venueTrade(beta, "tradeflow.venue.beta"),
      pk: "TRADE#beta:B-5521",
      tradeId: "beta:B-5521",
      venue: "beta",
      venueTradeId: "B-5521",
      side: "SELL",
      price: "150.2",
      quantity: "50",
      executedAt: "2025-06-02T14:29:59.125Z",
      venueSequence: 5521,
      gsi1pk: "SYMBOL#AAPL",
      gsi1sk: "2025-06-02T14:29:59.125Z#beta:B-5521",
    });
    expect(content(await meta("TRADE#gamma:T12345"))).toEqual({
      ...venueTrade(gamma, "tradeflow.venue.gamma"),
      pk: "TRADE#gamma:T12345",
      tradeId: "gamma:T12345",
      venue: "gamma",
      venueTradeId: "T12345",
      side: null,
      price: "150.05", // 1500.50 / 10, exactly
      quantity: "10",
      executedAt: "2025-06-02T14:29:57.500Z", // 10:29:57.500-04:00
      venueSequence: null,
      gsi1pk: "SYMBOL#AAPL",
      gsi1sk: "2025-06-02T14:29:57.500Z#gamma:T12345",
    });
    // Each event's receipt keeps the recorder's decision on the band (no engine trade on AAPL yet: no band).
    for (const [id, venue] of [
      [alpha, "alpha"],
      [beta, "beta"],
      [gamma, "gamma"],
    ] as const) {
      expect(content(await meta(`EVENT#${id}`))).toEqual({
        pk: `EVENT#${id}`,
        sk: "META",
        entity: "EVENT",
        eventId: id,
        source: `tradeflow.venue.${venue}`,
        detailType: "Trade Reported",
        eventTime: iso(new Date(envelopeOf(executionOf(stack, id)).time)),
        payloadHash: expect.stringMatching(/^[0-9a-f]{64}$/),
        decision: JSON.stringify({ outcome: "ACCEPTED" }),
      });
    }
    for (const id of ids) {
      const execution = executionOf(stack, id);
      expect(execution.status).toBe("SUCCEEDED");
      expect(stateNames(execution)).toEqual([
        "IsEvent",
        "ProcessEvent",
        "Validate",
        "Enrich",
        "IsOrder",
        "NotAnOrder",
        "Record",
      ]);
    }
    // alpha (150.25) crossed 150 upwards: one alert; beta stayed above; gamma is older than the state and ignored.
    const aaplAlerts = await queryPartition(c.doc, alerts, "SYMBOL#AAPL", "ALERT#");
    expect(aaplAlerts).toEqual([
      expect.objectContaining({ tradeId: "alpha:A-77001", direction: "UP", toZone: "ABOVE_HIGH", price: "150.25" }),
    ]);
    expect(await getItem(c.doc, alerts, "SYMBOL#AAPL", "STATE")).toMatchObject({
      zone: "ABOVE_HIGH",
      lastTradeId: "beta:B-5521",
    });
  });
});

describe("validation rejections", () => {
  it("records each rejected event as a REJECTION (stage VALIDATION) with its reason codes, and no order", async () => {
    const at = clock("2025-06-03T11:00:00Z");
    const aapl = { clientId: "acme", symbol: "AAPL", side: "BUY", type: "LIMIT", timeInForce: "GTC", postOnly: false };
    const cases: { name: string; detail: Record<string, unknown>; reasons: string[]; message?: string }[] = [
      {
        name: "price off the tick grid",
        detail: { ...aapl, orderId: "REJ-1", price: "150.005", quantity: "100" },
        reasons: ["PRICE_OFF_TICK"],
        message: "order.price: 150.005 is not a multiple of the tick size 0.01",
      },
      {
        name: "unknown symbol",
        detail: { ...aapl, orderId: "REJ-2", symbol: "NOPE", price: "10", quantity: "1" },
        reasons: ["UNKNOWN_SYMBOL"],
      },
      {
        name: "a field the contract does not define",
        detail: { ...aapl, orderId: "REJ-3", price: "150", quantity: "1", postonly: true },
        reasons: ["UNKNOWN_FIELD"],
      },
      {
        name: "several rules at once",
        detail: { ...aapl, orderId: "REJ-4", price: "150.001", quantity: "1.5" },
        reasons: ["QUANTITY_OFF_LOT", "PRICE_OFF_TICK"],
      },
      {
        name: "a halted instrument",
        detail: { ...aapl, orderId: "REJ-6", symbol: SYMBOLS.halted, price: "10", quantity: "1" },
        reasons: ["INSTRUMENT_NOT_TRADING"],
      },
      {
        name: "a JSON number as the price",
        detail: { ...aapl, orderId: "REJ-7", price: 150, quantity: "1" },
        reasons: ["INVALID_NUMBER"],
      },
    ];
    const eventIds = await putAndRun(
      stack,
      c.events,
      cases.map((k, i) => entry(bus(), ORDERS, "Order Submitted", k.detail, at(i))),
    );
    // The sample that must be rejected, as shipped.
    const [sampleId = ""] = await putAndRun(stack, c.events, sampleEntries("rejected-order.json", bus()));

    for (const [i, k] of cases.entries()) {
      const eventId = eventIds[i] ?? "";
      const detail = k.detail;
      const rejection = await meta(`REJECTION#${eventId}`);
      expect({ case: k.name, ...content(rejection) }).toEqual({
        case: k.name,
        pk: `REJECTION#${eventId}`,
        sk: "META",
        entity: "REJECTION",
        stage: "VALIDATION",
        reasons: k.reasons,
        message: k.message ?? expect.any(String),
        eventId,
        source: ORDERS,
        detailType: "Order Submitted",
        eventTime: iso(at(i)),
        payloadHash: expect.stringMatching(/^[0-9a-f]{64}$/),
        detail: JSON.stringify(detail),
        orderId: detail.orderId,
        clientId: "acme",
        symbol: detail.symbol,
        gsi1pk: `SYMBOL#${String(detail.symbol)}`,
        gsi1sk: `${iso(at(i))}#${eventId}`,
        gsi2pk: "CLIENT#acme",
        gsi2sk: `${iso(at(i))}#${eventId}`,
      });
      expect(await meta(`ORDER#${String(detail.orderId)}`)).toBeUndefined();
      const execution = executionOf(stack, eventId);
      expect(execution.status).toBe("SUCCEEDED");
      expect(stateNames(execution)).toEqual(["IsEvent", "ProcessEvent", "Validate", "Enrich", "RecordRejection"]);
      expect(execution.trace[1]?.caught).toEqual({ error: "ValidationRejected", next: "RecordRejection" });
    }
    expect(await meta(`REJECTION#${sampleId}`)).toMatchObject({
      stage: "VALIDATION",
      reasons: ["PRICE_OFF_TICK"],
      message: "order.price: 150.005 is not a multiple of the tick size 0.01",
      orderId: "O-1009",
    });
    expect(await meta("ORDER#O-1009")).toBeUndefined();
  });
});

describe("partial fills and cancels", () => {
  it("fills one big resting order over several executions: the engine's state after each, a version per fill", async () => {
    const symbol = SYMBOLS.part;
    const at = clock("2025-06-03T12:00:00Z");
    await putAndRun(stack, c.events, [
      orderSubmitted(
        bus(),
        { clientId: "maker", orderId: "PART-M", symbol, side: "SELL", price: "50.00", quantity: "100" },
        at(0),
      ),
    ]);
    const steps = [
      { orderId: "PART-T1", quantity: "30", remaining: "70", filled: "30", status: "PARTIALLY_FILLED" },
      { orderId: "PART-T2", quantity: "30", remaining: "40", filled: "60", status: "PARTIALLY_FILLED" },
      { orderId: "PART-T3", quantity: "40", remaining: "0", filled: "100", status: "FILLED" },
    ];
    for (const [i, step] of steps.entries()) {
      const [takerEvent = ""] = await putAndRun(stack, c.events, [
        orderSubmitted(
          bus(),
          {
            clientId: `taker${i}`,
            orderId: step.orderId,
            symbol,
            side: "BUY",
            price: "50.00",
            quantity: step.quantity,
          },
          at(10 * (i + 1)),
        ),
      ]);
      const sequence = i + 1;
      const version = sequence + 1;
      expect(await expectMetaIsTheEngines(symbol, "PART-M")).toMatchObject({
        status: step.status,
        version,
        quantity: "100",
        filledQuantity: step.filled,
        remainingQuantity: step.remaining,
        cancelledQuantity: "0",
        averagePrice: "50",
        lastTradeId: `${symbol}-${sequence}`,
      });
      expect(await expectMetaIsTheEngines(symbol, step.orderId)).toMatchObject({
        status: "FILLED",
        version,
        filledQuantity: step.quantity,
        remainingQuantity: "0",
      });
      const [taken] = await versions(step.orderId);
      expect(taken).toMatchObject({ sk: versionKey(version), cause: "SUBMIT", eventId: takerEvent });
      expect(taken?.trades).toEqual([
        expect.objectContaining({
          tradeId: `${symbol}-${sequence}`,
          price: "50",
          quantity: step.quantity,
          makerOrderId: "PART-M",
          takerOrderId: step.orderId,
          sequence,
          makerRemainingQuantity: step.remaining,
        }),
      ]);
    }
    expect((await fillsOf("PART-M")).map((f) => [f.tradeId, f.quantity, f.makerRemainingQuantity])).toEqual([
      [`${symbol}-1`, "30", "70"],
      [`${symbol}-2`, "30", "40"],
      [`${symbol}-3`, "40", "0"],
    ]);
    const history = await versions("PART-M");
    expect(history.map((v) => [v.sk, v.cause, v.status, v.remainingQuantity])).toEqual([
      [versionKey(1), "SUBMIT", "NEW", "100"],
      [versionKey(2), "FILL", "PARTIALLY_FILLED", "70"],
      [versionKey(3), "FILL", "PARTIALLY_FILLED", "40"],
      [versionKey(4), "FILL", "FILLED", "0"],
    ]);

    // An IOC order that sweeps two levels and cancels its rest: two trades and its rest cancelled, in one version.
    const levels = [
      ["PART-L1", "50.10"],
      ["PART-L2", "50.20"],
    ] as const;
    for (const [i, [orderId, price]] of levels.entries()) {
      await putAndRun(stack, c.events, [
        orderSubmitted(bus(), { clientId: "maker", orderId, symbol, side: "SELL", price, quantity: "10" }, at(40 + i)),
      ]);
    }
    await putAndRun(stack, c.events, [
      orderSubmitted(
        bus(),
        {
          clientId: "sweeper",
          orderId: "PART-IOC",
          symbol,
          side: "BUY",
          price: "50.20",
          quantity: "25",
          timeInForce: "IOC",
        },
        at(50),
      ),
    ]);
    expect(await expectMetaIsTheEngines(symbol, "PART-IOC")).toMatchObject({
      status: "CANCELLED",
      version: 7,
      quantity: "25",
      filledQuantity: "20",
      remainingQuantity: "0",
      cancelledQuantity: "5",
      averagePrice: "50.15", // (10 × 50.10 + 10 × 50.20) / 20
      lastTradeId: `${symbol}-5`,
    });
    const [sweep, ...more] = await versions("PART-IOC");
    expect(more).toEqual([]);
    expect(sweep).toMatchObject({ sk: versionKey(7), cause: "SUBMIT", status: "CANCELLED", timeInForce: "IOC" });
    expect((await fillsOf("PART-IOC")).map((t) => [t.tradeId, t.price, t.makerOrderId])).toEqual([
      [`${symbol}-4`, "50.1", "PART-L1"],
      [`${symbol}-5`, "50.2", "PART-L2"],
    ]);
    for (const id of ["PART-L1", "PART-L2"]) {
      expect(await expectMetaIsTheEngines(symbol, id)).toMatchObject({
        status: "FILLED",
        version: 7,
        remainingQuantity: "0",
        filledQuantity: "10",
      });
    }
  });

  it("cancels: the order's rest is cancelled; unknown, foreign and repeated cancels are recorded as engine rejections", async () => {
    const symbol = SYMBOLS.cancel;
    const at = clock("2025-06-03T13:00:00Z");
    // One at a time: each order's version is then known.
    const bids = [
      ["CXL-1", "20.00", "50"],
      ["CXL-3", "19.00", "5"],
    ] as const;
    for (const [i, [orderId, price, quantity]] of bids.entries()) {
      await putAndRun(stack, c.events, [
        orderSubmitted(bus(), { clientId: "alice", orderId, symbol, side: "BUY", price, quantity }, at(i)),
      ]);
    }
    await putAndRun(stack, c.events, [
      orderSubmitted(
        bus(),
        { clientId: "bob", orderId: "CXL-2", symbol, side: "SELL", price: "20.00", quantity: "20" },
        at(2),
      ),
    ]);
    expect(await meta("ORDER#CXL-1")).toMatchObject({ status: "PARTIALLY_FILLED", remainingQuantity: "30" });

    const [cancelEvent = ""] = await putAndRun(stack, c.events, [
      cancelRequested(bus(), { clientId: "alice", orderId: "CXL-1", symbol, idempotencyKey: "CXL-1-cancel" }, at(10)),
    ]);
    const cancelled = await expectMetaIsTheEngines(symbol, "CXL-1");
    expect(cancelled).toEqual({
      orderId: "CXL-1",
      clientId: "alice",
      symbol,
      side: "BUY",
      orderType: "LIMIT",
      price: "20",
      status: "CANCELLED",
      quantity: "50",
      filledQuantity: "20",
      remainingQuantity: "0",
      cancelledQuantity: "30",
      averagePrice: "20",
      lastTradeId: `${symbol}-1`,
      version: 4,
      submittedAt: at(0).getTime(),
    });
    expect((await versions("CXL-1")).map((v) => [v.sk, v.cause, v.status])).toEqual([
      [versionKey(1), "SUBMIT", "NEW"],
      [versionKey(3), "FILL", "PARTIALLY_FILLED"],
      [versionKey(4), "CANCEL", "CANCELLED"],
    ]);
    expect(content(await getItem(c.doc, compliance, "ORDER#CXL-1", versionKey(4)))).toEqual({
      pk: "ORDER#CXL-1",
      sk: versionKey(4),
      entity: "ORDER_VERSION",
      cause: "CANCEL",
      ...cancelled,
      trades: [],
      eventId: cancelEvent,
    });
    expect(executionOf(stack, cancelEvent).trace.find((s) => s.state === "Match")).toBeDefined();

    const refused = await putAndRun(stack, c.events, [
      cancelRequested(bus(), { clientId: "alice", orderId: "CXL-404", symbol }, at(20)),
      cancelRequested(bus(), { clientId: "bob", orderId: "CXL-3", symbol, idempotencyKey: "CXL-3-by-bob" }, at(21)),
      cancelRequested(bus(), { clientId: "alice", orderId: "CXL-1", symbol, idempotencyKey: "CXL-1-cancel-2" }, at(22)),
    ]);
    const expected = [
      { orderId: "CXL-404", clientId: "alice", reason: "UNKNOWN_ORDER" },
      { orderId: "CXL-3", clientId: "bob", reason: "NOT_ORDER_OWNER" },
      { orderId: "CXL-1", clientId: "alice", reason: "ORDER_NOT_OPEN" },
    ];
    for (const [i, want] of expected.entries()) {
      const eventId = refused[i] ?? "";
      expect(await meta(`REJECTION#${eventId}`)).toMatchObject({
        entity: "REJECTION",
        stage: "ENGINE",
        reasons: [want.reason],
        eventId,
        source: ORDERS,
        detailType: "Order Cancel Requested",
        orderId: want.orderId,
        clientId: want.clientId,
        symbol,
      });
      expect(executionOf(stack, eventId).status).toBe("SUCCEEDED");
    }
    // The refused cancels changed nothing.
    expect(await expectMetaIsTheEngines(symbol, "CXL-3")).toMatchObject({
      status: "NEW",
      version: 2,
      remainingQuantity: "5",
    });
    expect(await expectMetaIsTheEngines(symbol, "CXL-1")).toEqual(cancelled);
    expect(await versions("CXL-1")).toHaveLength(3);
    expect(await versions("CXL-3")).toHaveLength(1);
  });
});

describe("records out of order", () => {
  it("a maker's fill recorded before its own submit: META is the engine's newer state, and the late submit adds only its version", async () => {
    const symbol = SYMBOLS.outOfOrder;
    const at = clock("2025-06-03T20:00:00Z");
    // Hold the maker's Record until the taker's execution has recorded the fill (executions run concurrently, so
    // this order of records happens on its own; here it is forced).
    const invoke = stack.functions.invoke.bind(stack.functions);
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let held = false;
    const isMakerRecord = (id: string, event: unknown) => {
      const detail = (event as { detail?: { orderId?: unknown } } | null)?.detail;
      return id === "RecorderFunction" && detail?.orderId === "OOO-M";
    };
    const spy = jest.spyOn(stack.functions, "invoke").mockImplementation(async (id, event) => {
      if (isMakerRecord(id, event)) {
        held = true;
        await gate;
      }
      return invoke(id, event);
    });
    let makerEvent = "";
    let takerEvent = "";
    const filled: OrderState = {
      orderId: "OOO-M",
      clientId: "mk",
      symbol,
      side: "SELL",
      orderType: "LIMIT",
      price: "30",
      status: "PARTIALLY_FILLED",
      quantity: "10",
      filledQuantity: "4",
      remainingQuantity: "6",
      cancelledQuantity: "0",
      averagePrice: "30",
      lastTradeId: `${symbol}-1`,
      version: 2,
      submittedAt: at(0).getTime(),
    };
    try {
      [makerEvent = ""] = await putEvents(c.events, [
        orderSubmitted(
          bus(),
          { clientId: "mk", orderId: "OOO-M", symbol, side: "SELL", price: "30.00", quantity: "10" },
          at(0),
        ),
      ]);
      while (!held) await sleep(10);
      [takerEvent = ""] = await putEvents(c.events, [
        orderSubmitted(
          bus(),
          { clientId: "tk", orderId: "OOO-T", symbol, side: "BUY", price: "30.00", quantity: "4" },
          at(1),
        ),
      ]);
      await executionOf(stack, takerEvent).done;
      // The fill's version carries the maker's whole state: META is complete before the submit is recorded.
      expect(content(await meta("ORDER#OOO-M"))).toEqual(metaItem(filled));
      expect((await versions("OOO-M")).map((v) => [v.sk, v.cause])).toEqual([[versionKey(2), "FILL"]]);
      expect(executionOf(stack, makerEvent).status).toBe("RUNNING");
    } finally {
      release();
      spy.mockRestore();
    }
    await stack.idle();
    expect(executionOf(stack, makerEvent).status).toBe("SUCCEEDED");
    expect(await expectMetaIsTheEngines(symbol, "OOO-M")).toEqual(filled);
    const history = await versions("OOO-M");
    expect(history.map((h) => [h.sk, h.cause, h.status, h.remainingQuantity, h.eventId])).toEqual([
      [versionKey(1), "SUBMIT", "NEW", "10", makerEvent],
      [versionKey(2), "FILL", "PARTIALLY_FILLED", "6", takerEvent],
    ]);
  });

  it("…and that META carries cancelledQuantity like every other order's", async () => {
    expect(await meta("ORDER#OOO-M")).toHaveProperty("cancelledQuantity", "0");
  });
});

describe("alerts", () => {
  it("a threshold crossing raises exactly one alert (table and SNS), and repeating prices raise none", async () => {
    const symbol = SYMBOLS.alert;
    const at = clock("2025-06-03T14:00:00Z");
    await drainQueue(c.sqs, inbox());
    // Four trades: 140 (between 50 and 150), 151 (crosses 150 upwards), 151 again, 152 (still above).
    const prices = ["140.00", "151.00", "151.00", "152.00"];
    for (const [i, price] of prices.entries()) {
      await putAndRun(stack, c.events, [
        orderSubmitted(
          bus(),
          { clientId: "s", orderId: `ALR-S${i}`, symbol, side: "SELL", price, quantity: "1" },
          at(10 * i),
        ),
      ]);
      await putAndSettle(stack, c.events, [
        orderSubmitted(
          bus(),
          { clientId: "b", orderId: `ALR-B${i}`, symbol, side: "BUY", price, quantity: "1" },
          at(10 * i + 1),
        ),
      ]);
    }
    const tradeTime = iso(at(11));
    const alert = {
      alertId: `${symbol}/${symbol}-2`,
      symbol,
      direction: "UP",
      fromZone: "BETWEEN",
      toZone: "ABOVE_HIGH",
      threshold: "150",
      price: "151",
      tradeId: `${symbol}-2`,
      sequence: 2,
      tradeTime,
      source: ORDERS,
    };
    const items = await queryPartition(c.doc, alerts, `SYMBOL#${symbol}`);
    expect(items).toEqual([
      {
        pk: `SYMBOL#${symbol}`,
        sk: `ALERT#${tradeTime}#${symbol}-2`,
        ...alert,
        createdAt: expect.any(Number),
        publishedAt: expect.any(Number),
        expiresAt: expect.any(Number),
      },
      expect.objectContaining({
        sk: "STATE",
        zone: "ABOVE_HIGH",
        lastPrice: "152",
        lastTradeId: `${symbol}-4`,
        lastTimestamp: at(31).getTime(),
      }),
    ]);
    const published = (await drainQueue(c.sqs, inbox())).map(snsNotification);
    expect(published).toEqual([
      {
        topicArn: stack.resources.topics.AlertTopic,
        subject: `Price alert ${symbol} UP 150`,
        message: alert,
        attributes: { alertId: alert.alertId, symbol, direction: "UP", zone: "ABOVE_HIGH", threshold: "150" },
      },
    ]);
  });

  it("a poison message in the alert queue ends in the alert DLQ after maxReceiveCount; the other ticks are processed", async () => {
    const symbol = "E2E-TICK";
    const t0 = Date.parse("2025-06-03T15:00:00Z");
    const tick = (n: number, price: string) =>
      JSON.stringify({
        symbol,
        price,
        tradeId: `${symbol}-${n}`,
        sequence: n,
        timestamp: t0 + n * 1000,
        source: ORDERS,
      });
    const poison = "this is not a price tick {";
    await drainQueue(c.sqs, inbox());
    const started = Date.now();
    await c.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queue("AlertQueue"),
        Entries: [tick(1, "100"), poison, tick(2, "45")].map((MessageBody, i) => ({ Id: String(i), MessageBody })),
      }),
    );
    await stack.idle();
    // Five receives one visibility timeout (1 s here) apart before SQS moves it: at least four seconds.
    expect(Date.now() - started).toBeGreaterThanOrEqual(4000);

    const dead = await drainQueue(c.sqs, queue("AlertDeadLetterQueue"));
    expect(dead.map((m) => m.Body)).toEqual([poison]);
    expect(await queueCounts(c.sqs, queue("AlertQueue"))).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(await queryPartition(c.doc, alerts, `SYMBOL#${symbol}`)).toEqual([
      expect.objectContaining({
        sk: `ALERT#${new Date(t0 + 2000).toISOString()}#${symbol}-2`,
        direction: "DOWN",
        toZone: "BELOW_LOW",
        threshold: "50",
      }),
      expect.objectContaining({ sk: "STATE", zone: "BELOW_LOW", lastTradeId: `${symbol}-2`, lastPrice: "45" }),
    ]);
    expect((await drainQueue(c.sqs, inbox())).map((m) => snsNotification(m).message.alertId)).toEqual([
      `${symbol}/${symbol}-2`,
    ]);
  });
});

describe("failures", () => {
  it("an execution that fails sends the event and the error to the failed-executions queue; the history shows the Catch", async () => {
    const symbol = SYMBOLS.fail;
    // A corrupt book: the matcher's script meets a string where the symbol's book hash should be, and fails loudly.
    await redis.set(`tf:{${symbol}}:book`, "corrupt");
    await drainQueue(c.sqs, queue("FailedExecutionsQueue"));
    const detail = {
      clientId: "acme",
      orderId: "FAIL-1",
      symbol,
      side: "BUY",
      type: "LIMIT",
      price: "10",
      quantity: "1",
    };
    const time = new Date("2025-06-03T16:00:00Z");
    const [eventId = ""] = await putAndRun(stack, c.events, [entry(bus(), ORDERS, "Order Submitted", detail, time)]);

    const execution = executionOf(stack, eventId);
    expect(execution.status).toBe("FAILED");
    expect(execution.error).toBe("TradeflowEventFailed");
    expect(stateNames(execution)).toEqual([
      "IsEvent",
      "ProcessEvent",
      "Validate",
      "Enrich",
      "IsOrder",
      "Match",
      "SendToFailedQueue",
      "Failed",
    ]);
    expect(execution.trace[1]?.caught).toEqual({ error: "ReplyError", next: "SendToFailedQueue" });
    // Not a MatcherUnavailableError: not retried.
    expect(execution.trace.find((s) => s.state === "Match")).toMatchObject({ attempts: 1, retries: [] });

    const [message, ...more] = await drainQueue(c.sqs, queue("FailedExecutionsQueue"));
    expect(more).toEqual([]);
    const body = JSON.parse(message?.Body ?? "null");
    expect(body).toEqual({
      event: {
        id: eventId,
        source: ORDERS,
        "detail-type": "Order Submitted",
        time: "2025-06-03T16:00:00Z",
        detail,
      },
      error: { Error: "ReplyError", Cause: expect.any(String) },
    });
    expect(JSON.parse(body.error.Cause)).toMatchObject({
      errorType: "ReplyError",
      errorMessage: expect.stringContaining("WRONGTYPE"),
    });

    // The Catch in the history: the Parallel failed with the matcher's error, then SendToFailedQueue ran with it.
    const types = execution.history.map((h) => h.type);
    const failedAt = types.indexOf("ParallelStateFailed");
    expect(failedAt).toBeGreaterThan(0);
    expect(execution.history[failedAt]).toMatchObject({ error: "ReplyError" });
    expect(types.slice(failedAt + 1)).toEqual([
      "ParallelStateExited",
      "TaskStateEntered",
      "TaskScheduled",
      "TaskStarted",
      "TaskSucceeded",
      "TaskStateExited",
      "FailStateEntered",
      "ExecutionFailed",
    ]);
    const sendEntered = execution.history[failedAt + 2];
    expect(sendEntered).toMatchObject({ stateEnteredEventDetails: { name: "SendToFailedQueue" } });
    const sendInput = (sendEntered?.stateEnteredEventDetails as { input?: string } | undefined)?.input;
    expect(JSON.parse(sendInput ?? "null").error).toEqual(body.error);
    expect(execution.history.at(-1)).toMatchObject({
      executionFailedEventDetails: { error: "TradeflowEventFailed" },
    });
    // Nothing of the event was recorded.
    expect(await queryPartition(c.doc, compliance, "ORDER#FAIL-1")).toEqual([]);
    expect(await meta(`REJECTION#${eventId}`)).toBeUndefined();
  });

  it("retries a failed rule-target delivery with backoff, then delivers", async () => {
    const rule = stack.bus.ruleList.find((r) => r.name.endsWith("-orders"));
    const target = rule?.targets[0];
    if (!target) throw new Error("the stack has no orders rule target");
    const before = { ...stack.bus.metrics };
    const throttled = Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
    const spy = jest.spyOn(target, "deliver").mockRejectedValueOnce(throttled).mockRejectedValueOnce(throttled);
    try {
      const [eventId = ""] = await putAndRun(stack, c.events, [
        orderSubmitted(
          bus(),
          { clientId: "acme", orderId: "RETRY-1", symbol: SYMBOLS.retry, side: "BUY", price: "10", quantity: "3" },
          new Date("2025-06-03T17:00:00Z"),
        ),
      ]);
      expect(spy).toHaveBeenCalledTimes(3);
      expect(executionOf(stack, eventId).status).toBe("SUCCEEDED");
    } finally {
      spy.mockRestore();
    }
    expect(await meta("ORDER#RETRY-1")).toMatchObject({ status: "NEW", remainingQuantity: "3" });
    const after = stack.bus.metrics;
    expect({
      MatchedEvents: after.MatchedEvents - before.MatchedEvents,
      Invocations: after.Invocations - before.Invocations,
      RetryInvocationAttempts: after.RetryInvocationAttempts - before.RetryInvocationAttempts,
      FailedInvocations: after.FailedInvocations - before.FailedInvocations,
      InvocationsSentToDlq: after.InvocationsSentToDlq - before.InvocationsSentToDlq,
    }).toEqual({
      MatchedEvents: 1,
      Invocations: 3,
      RetryInvocationAttempts: 2,
      FailedInvocations: 0,
      InvocationsSentToDlq: 0,
    });
  });

  it("a target that keeps failing: after 10 retries the event is in the rule DLQ with EventBridge's attributes", async () => {
    // A stack whose state machine refuses every StartExecution (ExecutionLimitExceeded), as a throttled one does.
    const refusing = await startLocalStack({
      servers: {
        redisUrl: redisDbUrl(REDIS_DB.e2ePipeline),
        dynamoEndpoint: env("DYNAMODB_ENDPOINT"),
        motoEndpoint: env("MOTO_ENDPOINT"),
      },
      stage: "e2edlq",
      maxRunningExecutions: 0,
      timing: { taskRetryMs: 50, eventRetryBaseMs: 1, sqsRetryVisibilitySeconds: 1 },
    });
    const rc = pipelineClients(refusing);
    try {
      const entries = [
        orderSubmitted(
          refusing.resources.bus,
          { clientId: "acme", orderId: "DLQ-1", symbol: "AAPL", side: "BUY", price: "150", quantity: "1" },
          new Date("2025-06-03T18:00:00Z"),
        ),
        ...sampleEntries("trade-alpha.json", refusing.resources.bus),
      ];
      const ids = await putEvents(rc.events, entries);
      await refusing.idle();
      const dlqUrl = refusing.resources.queues.EventRuleDeadLetterQueue ?? "";
      const letters = await drainQueue(rc.sqs, dlqUrl);
      const { accountId, region } = refusing.resources;
      const ruleArn = (name: string) =>
        `arn:aws:events:${region}:${accountId}:rule/tradeflow-e2edlq/tradeflow-e2edlq-${name}`;
      const byId = new Map(letters.map((m) => [JSON.parse(m.Body ?? "{}").id as string, m]));
      expect([...byId.keys()].sort()).toEqual([...ids].sort());
      for (const [i, [rule, source, detailType]] of [
        ["orders", ORDERS, "Order Submitted"],
        ["trades", "tradeflow.venue.alpha", "Trade Reported"],
      ].entries()) {
        const id = ids[i] ?? "";
        const letter = byId.get(id);
        expect(JSON.parse(letter?.Body ?? "null")).toEqual({
          version: "0",
          id,
          "detail-type": detailType,
          source,
          account: accountId,
          time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
          region,
          resources: [],
          detail: JSON.parse(entries[i]?.Detail ?? "null"),
        });
        expect(letter && stringAttributes(letter)).toEqual({
          RULE_ARN: ruleArn(rule ?? ""),
          TARGET_ARN: refusing.machine.arn,
          ERROR_CODE: "ExecutionLimitExceeded",
          ERROR_MESSAGE: "more than 0 open executions",
          EXHAUSTED_RETRY_CONDITION: "MaximumRetryAttemptsExhausted",
          RETRY_ATTEMPTS: "10",
        });
      }
      expect(JSON.parse(byId.get(ids[0] ?? "")?.Body ?? "{}").time).toBe("2025-06-03T18:00:00Z");
      expect(refusing.bus.metrics).toEqual({
        MatchedEvents: 2,
        Invocations: 22,
        FailedInvocations: 2,
        RetryInvocationAttempts: 20,
        InvocationsSentToDlq: 2,
        InvocationsFailedToBeSentToDlq: 0,
      });
      expect(refusing.machine.list()).toEqual([]);
    } finally {
      rc.destroy();
      await refusing.stop();
    }
  });
});

describe("the Step Functions API", () => {
  it("StartExecution, StartSyncExecution, DescribeExecution, ListExecutions and GetExecutionHistory round trip", async () => {
    const symbol = SYMBOLS.sfn;
    const machineArn = stack.machine.arn;
    const { accountId, region } = stack.resources;
    const envelope = (id: string, time: string, detail: object) => ({
      version: "0",
      id,
      "detail-type": "Order Submitted",
      source: ORDERS,
      account: accountId,
      time,
      region,
      resources: [],
      detail,
    });
    const order = { clientId: "acme", symbol, type: "LIMIT", timeInForce: "GTC", postOnly: false, quantity: "7" };
    const restingInput = JSON.stringify(
      envelope("e2e-sfn-1", "2025-06-03T19:00:00Z", { ...order, orderId: "SFN-S", side: "SELL", price: "12.34" }),
    );

    const started = await c.sfn.send(
      new StartExecutionCommand({ stateMachineArn: machineArn, name: "sfn-api-1", input: restingInput }),
    );
    const restingArn = `${machineArn.replace(":stateMachine:", ":express:")}:sfn-api-1`;
    expect(started.executionArn).toBe(restingArn);
    expect(started.startDate).toBeInstanceOf(Date);
    // The same name with the same input is the same execution; with another input, an error.
    const again = await c.sfn.send(
      new StartExecutionCommand({ stateMachineArn: machineArn, name: "sfn-api-1", input: restingInput }),
    );
    expect(again.executionArn).toBe(restingArn);
    await expect(
      c.sfn.send(new StartExecutionCommand({ stateMachineArn: machineArn, name: "sfn-api-1", input: "{}" })),
    ).rejects.toMatchObject({ name: "ExecutionAlreadyExists" });
    await stack.idle();

    const described = await c.sfn.send(new DescribeExecutionCommand({ executionArn: restingArn }));
    expect(described).toMatchObject({
      executionArn: restingArn,
      stateMachineArn: machineArn,
      name: "sfn-api-1",
      status: "SUCCEEDED",
      input: restingInput,
    });
    expect(described.stopDate?.getTime()).toBeGreaterThanOrEqual(described.startDate?.getTime() ?? Infinity);
    const restingOutput = JSON.parse(described.output ?? "null");
    expect(restingOutput.processed.validated.match).toMatchObject({
      status: "NEW",
      remainingQuantity: "7",
      trades: [],
    });
    // The order's version and its META, one conditional put each.
    expect(restingOutput.recorded).toMatchObject({
      outcome: "RECORDED",
      eventId: "e2e-sfn-1",
      written: 2,
      dynamoCalls: 2,
    });

    const crossingInput = JSON.stringify(
      envelope("e2e-sfn-2", "2025-06-03T19:00:05Z", {
        ...order,
        clientId: "globex",
        orderId: "SFN-B",
        side: "BUY",
        price: "12.40",
      }),
    );
    const sync = await c.sfn.send(
      new StartSyncExecutionCommand({ stateMachineArn: machineArn, name: "sfn-api-2", input: crossingInput }),
    );
    expect(sync).toMatchObject({ status: "SUCCEEDED", name: "sfn-api-2", input: crossingInput });
    expect(sync.billingDetails?.billedMemoryUsedInMB).toBe(64);
    const syncOutput = JSON.parse(sync.output ?? "null");
    expect(syncOutput.processed.validated.match).toMatchObject({
      status: "FILLED",
      trades: [
        expect.objectContaining({ tradeId: `${symbol}-1`, price: "12.34", quantity: "7", makerOrderId: "SFN-S" }),
      ],
    });
    expect(syncOutput.recorded).toMatchObject({ outcome: "RECORDED", eventId: "e2e-sfn-2", ticks: 1 });
    await stack.idle();
    expect(await getItem(c.doc, compliance, "ORDER#SFN-B", versionKey(2))).toMatchObject({
      eventId: "e2e-sfn-2",
      trades: [expect.objectContaining({ tradeId: `${symbol}-1`, takerOrderId: "SFN-B" })],
    });

    // ListExecutions: newest first, one page at a time.
    const pages: string[] = [];
    let nextToken: string | undefined;
    do {
      const page: ListExecutionsCommandOutput = await c.sfn.send(
        new ListExecutionsCommand({
          stateMachineArn: machineArn,
          statusFilter: "SUCCEEDED",
          maxResults: 25,
          nextToken,
        }),
      );
      pages.push(...(page.executions ?? []).map((e) => e.executionArn ?? ""));
      nextToken = page.nextToken;
    } while (nextToken);
    expect(pages.slice(0, 2)).toEqual([sync.executionArn, restingArn]);
    expect(pages).toEqual(stack.machine.list("SUCCEEDED").map((e) => e.executionArn));

    const history: HistoryEvent[] = [];
    nextToken = undefined;
    do {
      const page: GetExecutionHistoryCommandOutput = await c.sfn.send(
        new GetExecutionHistoryCommand({ executionArn: restingArn, maxResults: 10, nextToken }),
      );
      history.push(...(page.events ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    const types = history.map((h) => h.type);
    expect(history.map((h) => h.id)).toEqual(history.map((_, i) => i + 1));
    expect(history.map((h) => h.previousEventId)).toEqual(history.map((_, i) => i));
    expect(types.slice(0, 7)).toEqual([
      "ExecutionStarted",
      "ChoiceStateEntered",
      "ChoiceStateExited",
      "ParallelStateEntered",
      "ParallelStateStarted",
      "TaskStateEntered",
      "TaskStateEntered",
    ]);
    expect(types.slice(-8)).toEqual([
      "ParallelStateSucceeded",
      "ParallelStateExited",
      "TaskStateEntered",
      "LambdaFunctionScheduled",
      "LambdaFunctionStarted",
      "LambdaFunctionSucceeded",
      "TaskStateExited",
      "ExecutionSucceeded",
    ]);
    // Inside the Parallel, branches interleave; what each state contributes is fixed.
    expect([...types].sort()).toEqual(
      [
        "ExecutionStarted",
        "ParallelStateEntered",
        "ParallelStateStarted",
        ...Array(4).fill("TaskStateEntered"),
        ...Array(4).fill("LambdaFunctionScheduled"),
        ...Array(4).fill("LambdaFunctionStarted"),
        ...Array(4).fill("LambdaFunctionSucceeded"),
        ...Array(4).fill("TaskStateExited"),
        ...Array(2).fill("ChoiceStateEntered"),
        ...Array(2).fill("ChoiceStateExited"),
        "ParallelStateSucceeded",
        "ParallelStateExited",
        "ExecutionSucceeded",
      ].sort(),
    );
    expect(history[0]?.executionStartedEventDetails?.input).toBe(restingInput);
    const entered = history.filter((h) => h.type === "TaskStateEntered").map((h) => h.stateEnteredEventDetails?.name);
    expect([...entered].sort()).toEqual(["Enrich", "Match", "Record", "Validate"]);
    expect(entered.at(-1)).toBe("Record");
    // Each Task's Lambda events follow its TaskStateEntered and precede its TaskStateExited.
    for (const name of ["Validate", "Enrich", "Match", "Record"]) {
      const from = history.findIndex((h) => h.type === "TaskStateEntered" && h.stateEnteredEventDetails?.name === name);
      const to = history.findIndex((h) => h.type === "TaskStateExited" && h.stateExitedEventDetails?.name === name);
      expect(to).toBeGreaterThan(from);
      expect(types.slice(to - 3, to)).toEqual([
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
      ]);
    }
    const matchScheduled = history.find(
      (h) =>
        h.type === "LambdaFunctionScheduled" &&
        h.lambdaFunctionScheduledEventDetails?.resource?.endsWith("MatcherFunction"),
    );
    expect(JSON.parse(matchScheduled?.lambdaFunctionScheduledEventDetails?.input ?? "null")).toEqual({
      type: "LIMIT",
      orderId: "SFN-S",
      clientId: "acme",
      symbol,
      side: "SELL",
      quantity: "7",
      timestamp: Date.parse("2025-06-03T19:00:00Z"),
      price: "12.34",
      timeInForce: "GTC",
      postOnly: false,
    });
    expect(JSON.parse(history.at(-1)?.executionSucceededEventDetails?.output ?? "null")).toEqual(restingOutput);
    // A state's exit carries its output: Record's is the execution's output.
    const recordExited = history.find(
      (h) => h.type === "TaskStateExited" && h.stateExitedEventDetails?.name === "Record",
    );
    expect(JSON.parse(recordExited?.stateExitedEventDetails?.output ?? "null")).toEqual(restingOutput);
    const reversed = await c.sfn.send(
      new GetExecutionHistoryCommand({ executionArn: restingArn, reverseOrder: true, maxResults: 1 }),
    );
    expect(reversed.events?.map((h) => h.type)).toEqual(["ExecutionSucceeded"]);
  });
});

describe("at-least-once delivery", () => {
  it("a redelivery after other trades moved the price out of the event's band is decided as the first delivery was", async () => {
    const symbol = SYMBOLS.band;
    const at = clock("2025-06-03T21:00:00Z");
    const order = (orderId: string, side: "BUY" | "SELL", price: string, time: Date) =>
      orderSubmitted(
        bus(),
        { clientId: `band-${side.toLowerCase()}`, orderId, symbol, side, price, quantity: "1" },
        time,
      );
    const venueTrade = (tradeId: string, price: string, time: Date) =>
      entry(
        bus(),
        "tradeflow.venue.alpha",
        "Trade Reported",
        { tradeId, symbol, side: "BUY", price, quantity: "1", currency: "USD", executedAt: time.getTime() },
        time,
      );
    /** Two orders that trade at `price`, one after the other: the engine's last trade price becomes `price`. */
    const tradeAt = async (n: number, price: string) => {
      await putAndRun(stack, c.events, [order(`BAND-S${n}`, "SELL", price, at(10 * n))]);
      await putAndRun(stack, c.events, [order(`BAND-B${n}`, "BUY", price, at(10 * n + 1))]);
    };

    // At a last price of 100 the band is 80..120 (2000 bps): a buy order and a venue print at 85 are accepted.
    await tradeAt(1, "100.00");
    const [orderEvent = "", tradeEvent = ""] = await putAndRun(stack, c.events, [
      order("BAND-O", "BUY", "85.00", at(12)),
      venueTrade("V-85", "85", at(13)),
    ]);
    expect(await meta("ORDER#BAND-O")).toMatchObject({ status: "NEW", price: "85" });
    expect(await meta("TRADE#alpha:V-85")).toMatchObject({ price: "85", eventId: tradeEvent });
    // At 120 the band is 96..144: the same prices, sent anew, are refused by the engine and by the recorder.
    await tradeAt(2, "120.00");
    const [lateOrder = "", lateTrade = ""] = await putAndRun(stack, c.events, [
      order("BAND-O2", "BUY", "85.00", at(22)),
      venueTrade("V-85-2", "85", at(23)),
    ]);
    expect(await meta(`REJECTION#${lateOrder}`)).toMatchObject({ stage: "ENGINE", reasons: ["PRICE_OUTSIDE_BAND"] });
    expect(await meta(`REJECTION#${lateTrade}`)).toMatchObject({ stage: "RECORDER", reasons: ["PRICE_OUTSIDE_BAND"] });
    expect(await meta("ORDER#BAND-O2")).toBeUndefined();
    expect(await meta("TRADE#alpha:V-85-2")).toBeUndefined();

    // The first two events again, with their ids: the same records, nothing new, no rejection.
    const before = await scanTable(c.doc, compliance);
    for (const id of [orderEvent, tradeEvent]) stack.bus.route(envelopeOf(executionOf(stack, id)));
    await stack.idle();
    expect(await scanTable(c.doc, compliance)).toEqual(before);
    for (const id of [orderEvent, tradeEvent]) {
      const [, again] = executionsOf(stack, id);
      expect(again?.status).toBe("SUCCEEDED");
      expect(outputOf(again as Execution).recorded).toMatchObject({ outcome: "DUPLICATE", written: 0 });
      expect(await meta(`REJECTION#${id}`)).toBeUndefined();
    }
    expect(await meta(`EVENT#${tradeEvent}`)).toMatchObject({ decision: JSON.stringify({ outcome: "ACCEPTED" }) });
  });

  it("delivering every event a second time (same event ids, shuffled) leaves every table and the books byte-identical", async () => {
    await stack.idle();
    const snapshot = async () => ({
      compliance: await scanTable(c.doc, compliance),
      alerts: await scanTable(c.doc, alerts),
      // The books and the order id claims, but for the TTLs of stored results and claims: they run down between
      // the snapshots.
      books: (await redisDump(redis, "tf:{*")).map(({ ttlMs: _, ...key }) => key),
      claims: (await redisDump(redis, "tf:oid:*")).map(({ ttlMs: _, ...claim }) => claim),
    });
    const before = await snapshot();
    await drainQueue(c.sqs, inbox());
    await drainQueue(c.sqs, queue("FailedExecutionsQueue"));

    const firsts = new Map<string, Execution>();
    for (const execution of [...stack.machine.list()].reverse()) {
      const id = envelopeOf(execution).id;
      if (!firsts.has(id)) firsts.set(id, execution);
    }
    // Every event this file sent to the main stack: 2 + 3 + 7 + 7 + 7 + 2 + 8 + 1 + 1 + 2 + 8.
    expect(firsts.size).toBe(48);
    const runsBefore = new Map([...firsts.keys()].map((id) => [id, executionsOf(stack, id).length]));
    const envelopes: EventEnvelope[] = shuffled(
      [...firsts.values()].map((e) => envelopeOf(e)),
      seededRandom(20250603),
    );
    const matched = stack.bus.metrics.MatchedEvents;
    for (const envelope of envelopes) stack.bus.route(envelope);
    await stack.idle();
    expect(stack.bus.metrics.MatchedEvents - matched).toBe(envelopes.length);

    const after = await snapshot();
    // Readable diffs first, then the bytes.
    expect(after.compliance).toEqual(before.compliance);
    expect(after.alerts).toEqual(before.alerts);
    expect(after.books).toEqual(before.books);
    expect(after.claims).toEqual(before.claims);
    expect(canonicalJson(after)).toBe(canonicalJson(before));
    expect(before.books.length).toBeGreaterThan(0);
    expect(before.claims.length).toBeGreaterThan(0);

    // Each redelivery ended as its first delivery did; orders came back from the engine as replays, and the
    // recorder wrote nothing.
    for (const [id, first] of firsts) {
      const runs = executionsOf(stack, id);
      expect({ id, runs: runs.length }).toEqual({ id, runs: (runsBefore.get(id) ?? 0) + 1 });
      const second = runs.at(-1) as Execution;
      expect({ id, status: second.status }).toEqual({ id, status: first.status });
      if (second.status !== "SUCCEEDED") continue;
      const output = outputOf(second) as { recorded?: Item; processed?: { validated?: { match?: Item } } };
      expect({ id, written: output.recorded?.written }).toEqual({ id, written: 0 });
      const match = output.processed?.validated?.match;
      if (match) expect({ id, replayed: match.replayed }).toEqual({ id, replayed: true });
    }
    // No new alert was published; the one failing event failed again.
    expect(await drainQueue(c.sqs, inbox())).toEqual([]);
    const failed = await drainQueue(c.sqs, queue("FailedExecutionsQueue"));
    expect(failed.map((m) => JSON.parse(m.Body ?? "{}").event.detail.orderId)).toEqual(["FAIL-1"]);
  });
});
