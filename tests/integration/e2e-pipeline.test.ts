// The whole local pipeline, end to end, through its real entry points: PutEvents on the stack's gateway, the
// template's rules, the ASL on the local Step Functions runtime, the function bundles, redis-server (db 7),
// DynamoDB Local and moto. Every test puts events, waits for the stack to be idle, and reads what the pipeline left
// behind: compliance and alerts tables, queues, the SNS topic's inbox, executions and their histories.
//
// Each test trades its own symbol (added to the stage's SSM instrument registry before the first event), so its
// trade ids, versions, price bands and alert zones do not depend on the other tests. The last test replays every
// event the file sent and requires the final state to be byte-identical.

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
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { jest } from "@jest/globals";
import type { Instrument } from "@tradeflow/common/instruments";
import { Redis } from "ioredis";
import type { EventEnvelope } from "../../local/eventbus";
import { type LocalStack, startLocalStack } from "../../local/stack";
import type { Execution } from "../../local/workflow";
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

const REDIS_DB = 7;
const TERMINAL_VERSION = 999_999_999_999_999;
const TERMINAL_STATUS_KEY = "STATUS#999999999999999";

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
} as const;

let stack: LocalStack;
let c: PipelineClients;
let redis: Redis;
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

beforeAll(async () => {
  redis = new Redis(`${env("REDIS_URL")}/${REDIS_DB}`);
  await redis.flushdb();
  stack = await startLocalStack({
    servers: {
      redisUrl: `${env("REDIS_URL")}/${REDIS_DB}`,
      dynamoEndpoint: env("DYNAMODB_ENDPOINT"),
      motoEndpoint: env("MOTO_ENDPOINT"),
    },
    stage: "e2e",
    timing: { taskRetryMs: 50, eventRetryBaseMs: 10, sqsRetryVisibilitySeconds: 1 },
  });
  c = pipelineClients(stack);
  compliance = stack.resources.tables.ComplianceTable ?? "";
  alerts = stack.resources.tables.AlertsTable ?? "";
  await addInstruments(c.ssm, stack.resources.configPath, [
    ...Object.values(SYMBOLS)
      .filter((s) => s !== SYMBOLS.halted)
      .map((s) => testInstrument(s)),
    testInstrument(SYMBOLS.halted, "HALTED"),
  ]);
}, 120_000);

// Each test starts from a quiet stack: nothing running, the alert queue drained.
afterEach(() => stack.idle());

afterAll(async () => {
  c?.destroy();
  await stack?.stop();
  await redis?.quit();
});

describe("happy paths", () => {
  it("a resting order, then a crossing order: the trade, both orders' META, status history and fills", async () => {
    const symbol = SYMBOLS.book;
    const at = clock("2025-06-03T10:00:00Z");
    const [sellEvent = ""] = await putAndRun(stack, c.events, [
      orderSubmitted(
        bus(),
        { clientId: "acme", orderId: "BOOK-S1", symbol, side: "SELL", price: "100.50", quantity: "40" },
        at(1),
      ),
    ]);

    const resting = await meta("ORDER#BOOK-S1");
    expect(content(resting)).toEqual({
      pk: "ORDER#BOOK-S1",
      sk: "META",
      entity: "ORDER",
      orderId: "BOOK-S1",
      clientId: "acme",
      symbol,
      side: "SELL",
      type: "LIMIT",
      price: "100.5",
      quantity: "40",
      timeInForce: "GTC",
      postOnly: false,
      idempotencyKey: null,
      submittedAt: iso(at(1)),
      submitEventId: sellEvent,
      orderHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      enrichment: {
        // 100.5 × 40 = 4020; fees rounded half up to 2 decimals: 0.402 → 0.4 (1 bps), 1.005 → 1.01 (2.5 bps).
        notional: { amount: "4020", currency: "USD" },
        fees: { currency: "USD", makerBps: "1", takerBps: "2.5", maker: "0.4", taker: "1.01" },
        session: "CONTINUOUS",
        topOfBook: expect.objectContaining({ symbol, bid: null, lastTradePrice: null }),
        defaulted: [],
      },
      status: "NEW",
      version: 0,
      filledQuantity: "0",
      remainingQuantity: "40",
      cancelledQuantity: "0",
      gsi1pk: `SYMBOL#${symbol}`,
      gsi1sk: `${iso(at(1))}#BOOK-S1`,
      gsi2pk: "CLIENT#acme",
      gsi2sk: `${iso(at(1))}#BOOK-S1`,
    });
    expect(resting?.lastTradeId).toBeUndefined();
    expect(stateNames(executionOf(stack, sellEvent))).toEqual([
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
    const trade = {
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
      executedAt: tradeTime,
      eventId: buyEvent,
    };
    expect(content(await meta("TRADE#E2E-BOOK-1"))).toEqual({
      pk: "TRADE#E2E-BOOK-1",
      sk: "META",
      entity: "TRADE",
      origin: "ENGINE",
      ...trade,
      gsi1pk: `SYMBOL#${symbol}`,
      gsi1sk: `${tradeTime}#E2E-BOOK-1`,
    });
    expect(await meta("ORDER#BOOK-B1")).toMatchObject({
      status: "FILLED",
      version: 1,
      quantity: "25",
      filledQuantity: "25",
      remainingQuantity: "0",
      cancelledQuantity: "0",
      // No lastTradeId: the recorder sets it on maker fills only, not on a taker's own fills (see the report).
      submitEventId: buyEvent,
    });
    expect(await meta("ORDER#BOOK-S1")).toMatchObject({
      status: "PARTIALLY_FILLED",
      version: 1,
      quantity: "40",
      filledQuantity: "25",
      remainingQuantity: "15",
      cancelledQuantity: "0",
      lastTradeId: "E2E-BOOK-1",
      submitEventId: sellEvent,
    });

    // The fill under each order: the whole trade, its role and the order's id, in the client's index.
    for (const [orderId, role, client] of [
      ["BOOK-S1", "MAKER", "acme"],
      ["BOOK-B1", "TAKER", "globex"],
    ] as const) {
      expect((await queryPartition(c.doc, compliance, `ORDER#${orderId}`, "TRADE#")).map(content)).toEqual([
        {
          pk: `ORDER#${orderId}`,
          sk: "TRADE#E2E-BOOK-1",
          entity: "ORDER_TRADE",
          ...trade,
          role,
          orderId,
          gsi2pk: `CLIENT#${client}`,
          gsi2sk: `${tradeTime}#E2E-BOOK-1`,
        },
      ]);
    }
    expect((await queryPartition(c.doc, compliance, "ORDER#BOOK-S1", "STATUS#")).map(content)).toEqual([
      {
        pk: "ORDER#BOOK-S1",
        sk: "STATUS#000000000000000",
        entity: "ORDER_STATUS",
        orderId: "BOOK-S1",
        status: "NEW",
        version: 0,
        cause: "SUBMIT",
        remainingQuantity: "40",
        filledQuantity: "0",
        cancelledQuantity: "0",
        eventId: sellEvent,
      },
      {
        pk: "ORDER#BOOK-S1",
        sk: "STATUS#000000000000001",
        entity: "ORDER_STATUS",
        orderId: "BOOK-S1",
        status: "PARTIALLY_FILLED",
        version: 1,
        cause: "FILL",
        remainingQuantity: "15",
        tradeId: "E2E-BOOK-1",
        eventId: buyEvent,
      },
    ]);
    expect((await queryPartition(c.doc, compliance, "ORDER#BOOK-B1", "STATUS#")).map(content)).toEqual([
      {
        pk: "ORDER#BOOK-B1",
        sk: "STATUS#000000000000001",
        entity: "ORDER_STATUS",
        orderId: "BOOK-B1",
        status: "FILLED",
        version: 1,
        cause: "SUBMIT",
        remainingQuantity: "0",
        filledQuantity: "25",
        cancelledQuantity: "0",
        averagePrice: "100.5",
        eventId: buyEvent,
      },
    ]);
    expect(content(await getItem(c.doc, compliance, `SYMBOL#${symbol}`, "LAST_TRADE"))).toEqual({
      pk: `SYMBOL#${symbol}`,
      sk: "LAST_TRADE",
      entity: "LAST_TRADE",
      symbol,
      price: "100.5",
      tradeId: "E2E-BOOK-1",
      executedAt: tradeTime,
      orderKey: `${String(at(5).getTime()).padStart(16, "0")}#${"1".padStart(16, "0")}#E2E-BOOK-1`,
    });
    for (const [eventId, time] of [
      [sellEvent, at(1)],
      [buyEvent, at(5)],
    ] as const) {
      expect(content(await meta(`EVENT#${eventId}`))).toEqual({
        pk: `EVENT#${eventId}`,
        sk: "META",
        entity: "EVENT",
        eventId,
        source: ORDERS,
        detailType: "Order Submitted",
        eventTime: iso(time),
        payloadHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
    }
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
    // The last trade price is the newest by trade time (beta), not the last one recorded (gamma).
    expect(await getItem(c.doc, compliance, "SYMBOL#AAPL", "LAST_TRADE")).toMatchObject({
      price: "150.2",
      tradeId: "beta:B-5521",
    });
    for (const id of ids) {
      const execution = executionOf(stack, id);
      expect(execution.status).toBe("SUCCEEDED");
      expect(stateNames(execution)).toEqual(["ProcessEvent", "Validate", "Enrich", "IsOrder", "NotAnOrder", "Record"]);
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
        name: "outside the price band around the last trade (150.2 ± 5 %)",
        detail: { ...aapl, orderId: "REJ-5", price: "170", quantity: "1" },
        reasons: ["PRICE_OUTSIDE_BAND"],
        message: "order.price: 170 is outside 142.69..157.71, 500 bps around the last trade price 150.2",
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
      expect(stateNames(execution)).toEqual(["ProcessEvent", "Validate", "Enrich", "RecordRejection"]);
      expect(execution.trace[0]?.caught).toEqual({ error: "ValidationRejected", next: "RecordRejection" });
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
  it("fills one big resting order over several executions: remaining quantity after each", async () => {
    const symbol = SYMBOLS.part;
    const at = clock("2025-06-03T12:00:00Z");
    const [makerEvent = ""] = await putAndRun(stack, c.events, [
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
      expect(await meta("ORDER#PART-M")).toMatchObject({
        status: step.status,
        version: sequence,
        quantity: "100",
        filledQuantity: step.filled,
        remainingQuantity: step.remaining,
        cancelledQuantity: "0",
        lastTradeId: `${symbol}-${sequence}`,
        submitEventId: makerEvent,
      });
      expect(await meta(`ORDER#${step.orderId}`)).toMatchObject({
        status: "FILLED",
        version: sequence,
        filledQuantity: step.quantity,
        remainingQuantity: "0",
      });
      expect(await meta(`TRADE#${symbol}-${sequence}`)).toMatchObject({
        price: "50",
        quantity: step.quantity,
        makerOrderId: "PART-M",
        takerOrderId: step.orderId,
        sequence,
        makerRemainingQuantity: step.remaining,
        eventId: takerEvent,
      });
    }
    const makerFills = await queryPartition(c.doc, compliance, "ORDER#PART-M", "TRADE#");
    expect(makerFills.map((f) => [f.tradeId, f.role, f.quantity, f.makerRemainingQuantity])).toEqual([
      [`${symbol}-1`, "MAKER", "30", "70"],
      [`${symbol}-2`, "MAKER", "30", "40"],
      [`${symbol}-3`, "MAKER", "40", "0"],
    ]);
    const history = await queryPartition(c.doc, compliance, "ORDER#PART-M", "STATUS#");
    expect(history.map((s) => [s.sk, s.status, s.cause, s.remainingQuantity])).toEqual([
      ["STATUS#000000000000000", "NEW", "SUBMIT", "100"],
      ["STATUS#000000000000001", "PARTIALLY_FILLED", "FILL", "70"],
      ["STATUS#000000000000002", "PARTIALLY_FILLED", "FILL", "40"],
      ["STATUS#000000000000003", "FILLED", "FILL", "0"],
    ]);

    // An IOC order that sweeps two levels and cancels its rest: two trades, then the terminal version.
    await putAndRun(stack, c.events, [
      orderSubmitted(
        bus(),
        { clientId: "maker", orderId: "PART-L1", symbol, side: "SELL", price: "50.10", quantity: "10" },
        at(40),
      ),
      orderSubmitted(
        bus(),
        { clientId: "maker", orderId: "PART-L2", symbol, side: "SELL", price: "50.20", quantity: "10" },
        at(41),
      ),
    ]);
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
    expect(await meta("ORDER#PART-IOC")).toMatchObject({
      status: "CANCELLED",
      version: TERMINAL_VERSION,
      quantity: "25",
      filledQuantity: "20",
      remainingQuantity: "0",
      cancelledQuantity: "5",
    });
    expect(await getItem(c.doc, compliance, "ORDER#PART-IOC", TERMINAL_STATUS_KEY)).toMatchObject({
      status: "CANCELLED",
      cause: "SUBMIT",
      filledQuantity: "20",
      cancelledQuantity: "5",
      averagePrice: "50.15", // (10 × 50.10 + 10 × 50.20) / 20
    });
    expect(
      (await queryPartition(c.doc, compliance, "ORDER#PART-IOC", "TRADE#")).map((f) => [f.tradeId, f.price]),
    ).toEqual([
      [`${symbol}-4`, "50.1"],
      [`${symbol}-5`, "50.2"],
    ]);
    for (const id of ["PART-L1", "PART-L2"]) {
      expect(await meta(`ORDER#${id}`)).toMatchObject({
        status: "FILLED",
        remainingQuantity: "0",
        filledQuantity: "10",
      });
    }
  });

  it("cancels: the order's rest is cancelled; unknown, foreign and repeated cancels are recorded as engine rejections", async () => {
    const symbol = SYMBOLS.cancel;
    const at = clock("2025-06-03T13:00:00Z");
    await putAndRun(stack, c.events, [
      orderSubmitted(
        bus(),
        { clientId: "alice", orderId: "CXL-1", symbol, side: "BUY", price: "20.00", quantity: "50" },
        at(0),
      ),
      orderSubmitted(
        bus(),
        { clientId: "alice", orderId: "CXL-3", symbol, side: "BUY", price: "19.00", quantity: "5" },
        at(1),
      ),
    ]);
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
    expect(await meta("ORDER#CXL-1")).toMatchObject({
      status: "CANCELLED",
      version: TERMINAL_VERSION,
      quantity: "50",
      filledQuantity: "20",
      remainingQuantity: "0",
      cancelledQuantity: "30",
      lastTradeId: `${symbol}-1`,
    });
    expect(content(await getItem(c.doc, compliance, "ORDER#CXL-1", TERMINAL_STATUS_KEY))).toEqual({
      pk: "ORDER#CXL-1",
      sk: TERMINAL_STATUS_KEY,
      entity: "ORDER_STATUS",
      orderId: "CXL-1",
      status: "CANCELLED",
      version: TERMINAL_VERSION,
      cause: "CANCEL",
      remainingQuantity: "0",
      filledQuantity: "20",
      cancelledQuantity: "30",
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
    expect(await meta("ORDER#CXL-3")).toMatchObject({ status: "NEW", version: 0, remainingQuantity: "5" });
    expect(await meta("ORDER#CXL-1")).toMatchObject({ status: "CANCELLED", cancelledQuantity: "30" });
  });
});

describe("records out of order", () => {
  it("a maker's fill recorded before its own submit: META keeps the newer state and gains the order's attributes later", async () => {
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
      // Only what the fill tells about the maker so far.
      expect(content(await meta("ORDER#OOO-M"))).toEqual({
        pk: "ORDER#OOO-M",
        sk: "META",
        entity: "ORDER",
        orderId: "OOO-M",
        clientId: "mk",
        symbol,
        side: "SELL",
        status: "PARTIALLY_FILLED",
        version: 1,
        remainingQuantity: "6",
        lastTradeId: `${symbol}-1`,
      });
      expect(executionOf(stack, makerEvent).status).toBe("RUNNING");
    } finally {
      release();
      spy.mockRestore();
    }
    await stack.idle();
    expect(executionOf(stack, makerEvent).status).toBe("SUCCEEDED");
    expect(await meta("ORDER#OOO-M")).toMatchObject({
      price: "30",
      quantity: "10",
      type: "LIMIT",
      timeInForce: "GTC",
      submittedAt: iso(at(0)),
      submitEventId: makerEvent,
      orderHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      gsi1pk: `SYMBOL#${symbol}`,
      gsi2pk: "CLIENT#mk",
      status: "PARTIALLY_FILLED",
      version: 1,
      remainingQuantity: "6",
      filledQuantity: "4", // 10 − 6 − 0, derived exactly
      lastTradeId: `${symbol}-1`,
    });
    const history = await queryPartition(c.doc, compliance, "ORDER#OOO-M", "STATUS#");
    expect(history.map((h) => [h.sk, h.status, h.cause, h.remainingQuantity, h.eventId])).toEqual([
      ["STATUS#000000000000000", "NEW", "SUBMIT", "10", makerEvent],
      ["STATUS#000000000000001", "PARTIALLY_FILLED", "FILL", "6", takerEvent],
    ]);
  });

  // Known defect (see the report): a META created by a maker fill has no cancelledQuantity, and the order's late
  // submit does not add it, unlike every other order's META (docs/data-model.md). Remove `.failing` once fixed.
  it.failing("…and that META carries cancelledQuantity like every other order's", async () => {
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
    // A corrupt reference the validator must not ignore (it would switch the price band off).
    await c.doc.send(
      new PutCommand({
        TableName: compliance,
        Item: { pk: `SYMBOL#${symbol}`, sk: "LAST_TRADE", entity: "LAST_TRADE", price: "not-a-price" },
      }),
    );
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
    const errorMessage = `LAST_TRADE item for ${symbol} in ${compliance} has no valid decimal price`;
    expect(stateNames(execution)).toEqual(["ProcessEvent", "Validate", "Enrich", "SendToFailedQueue", "Failed"]);
    expect(execution.trace[0]?.caught).toEqual({ error: "Error", next: "SendToFailedQueue" });
    expect(execution.trace.find((s) => s.state === "Validate")).toMatchObject({ attempts: 1, retries: [] });

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
      error: { Error: "Error", Cause: expect.any(String) },
    });
    expect(JSON.parse(body.error.Cause)).toMatchObject({ errorType: "Error", errorMessage });

    // The Catch in the history: the Parallel failed with the validator's error, then SendToFailedQueue ran with it.
    const types = execution.history.map((h) => h.type);
    const failedAt = types.indexOf("ParallelStateFailed");
    expect(failedAt).toBeGreaterThan(0);
    expect(execution.history[failedAt]).toMatchObject({ error: "Error" });
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
    expect(await meta(`EVENT#${eventId}`)).toBeUndefined();
    expect(await meta("ORDER#FAIL-1")).toBeUndefined();
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
        redisUrl: `${env("REDIS_URL")}/${REDIS_DB}`,
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
    expect(restingOutput.recorded).toMatchObject({ outcome: "RECORDED", eventId: "e2e-sfn-1", written: 3 });

    const crossingInput = JSON.stringify(
      envelope("e2e-sfn-2", "2025-06-03T19:00:05Z", { ...order, orderId: "SFN-B", side: "BUY", price: "12.40" }),
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
    expect(await meta(`TRADE#${symbol}-1`)).toMatchObject({ takerOrderId: "SFN-B", eventId: "e2e-sfn-2" });

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
    expect(types.slice(0, 5)).toEqual([
      "ExecutionStarted",
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
        "ChoiceStateEntered",
        "ChoiceStateExited",
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
  it("delivering every event a second time (same event ids, shuffled) leaves every table and the books byte-identical", async () => {
    await stack.idle();
    const snapshot = async () => ({
      compliance: await scanTable(c.doc, compliance),
      alerts: await scanTable(c.doc, alerts),
      books: await redisDump(redis, "tf:*"),
    });
    const before = await snapshot();
    await drainQueue(c.sqs, inbox());
    await drainQueue(c.sqs, queue("FailedExecutionsQueue"));

    const firsts = new Map<string, Execution>();
    for (const execution of [...stack.machine.list()].reverse()) {
      const id = envelopeOf(execution).id;
      if (!firsts.has(id)) firsts.set(id, execution);
    }
    // Every event this file sent to the main stack: 2 + 3 + 8 + 7 + 7 + 2 + 8 + 1 + 1 + 2.
    expect(firsts.size).toBe(41);
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
    expect(canonicalJson(after)).toBe(canonicalJson(before));
    expect(before.books.length).toBeGreaterThan(0);

    // Each redelivery ended as its first delivery did; orders came back from the engine as replays, and the
    // recorder wrote nothing.
    for (const [id, first] of firsts) {
      const runs = executionsOf(stack, id);
      expect(runs).toHaveLength(2);
      const second = runs[1] as Execution;
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
