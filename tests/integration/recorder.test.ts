// The recorder against DynamoDB Local and moto, fed by the real validator and matching engine (redis-server).
import { QueryCommand, type QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import type { RecordSummary } from "@tradeflow/common/contracts";
import { type ValidatedEvent, ValidationRejected } from "@tradeflow/common/contracts";
import type { MatchingEngine } from "@tradeflow/common/orderbook";
import type { RecorderDeps } from "@tradeflow/common/recorder";
import { validateEvent } from "@tradeflow/common/validation";
import type { Context } from "aws-lambda";
import type { Redis } from "ioredis";
import { connect, engineOn, instruments } from "../support/book-fixture";
import { REDIS_DB } from "../support/redis-db";
import {
  clients,
  createRecordingStack,
  drain,
  lambdaContext,
  type RecordingStack,
  recorderDeps,
  scanAll,
} from "./recording-stack";

let stack: RecordingStack;
let redis: Redis;
let engine: MatchingEngine;
let recorder: (event: unknown, context: Context) => Promise<RecordSummary>;
let recordExecution: typeof import("@tradeflow/common/recorder").recordExecution;

beforeAll(async () => {
  stack = await createRecordingStack();
  process.env.POWERTOOLS_LOG_LEVEL = "SILENT";
  redis = connect(REDIS_DB.recorder);
  await redis.flushdb();
  engine = engineOn(redis);
  // Imported after the environment is set: the handler reads it and builds its clients at load time.
  ({ handler: recorder } = await import("../../functions/recorder/index"));
  ({ recordExecution } = await import("@tradeflow/common/recorder"));
});
afterAll(() => redis.quit());

const record = (state: unknown) => recorder(state, lambdaContext("recorder"));

const deps = (overrides: Partial<RecorderDeps> = {}) => recorderDeps(stack, overrides);

let eventCount = 0;
let minute = 0;
function envelope(detailType: string, detail: Record<string, unknown>, source = "tradeflow.orders") {
  return {
    version: "0",
    id: `evt-${++eventCount}`,
    "detail-type": detailType,
    source,
    account: "123456789012",
    time: new Date(Date.UTC(2025, 5, 2, 14, ++minute)).toISOString(),
    region: "us-east-1",
    resources: [],
    detail,
  };
}

const limit = (
  orderId: string,
  clientId: string,
  side: "BUY" | "SELL",
  price: string,
  quantity: string,
  symbol = "BTC-USD",
) => envelope("Order Submitted", { orderId, clientId, symbol, side, type: "LIMIT", price, quantity });
const market = (orderId: string, clientId: string, side: "BUY" | "SELL", quantity: string, symbol: string) =>
  envelope("Order Submitted", { orderId, clientId, symbol, side, type: "MARKET", quantity });
const cancel = (orderId: string, clientId: string) =>
  envelope("Order Cancel Requested", { orderId, clientId, symbol: "BTC-USD" });

const enrichment = { session: "CONTINUOUS", defaulted: ["topOfBook: not looked up in this test"] };

/** What the workflow hands the recorder for an event: Validate and Match for real, then the Record or RecordRejection input. */
async function stateFor(event: ReturnType<typeof envelope>): Promise<Record<string, unknown>> {
  let validated: ValidatedEvent;
  try {
    validated = await validateEvent(event, { instruments: async () => instruments });
  } catch (err) {
    if (!(err instanceof ValidationRejected)) throw err;
    const Cause = JSON.stringify({ errorType: err.name, errorMessage: err.message, trace: [] });
    return JSON.parse(JSON.stringify({ ...event, rejection: { Error: "ValidationRejected", Cause } }));
  }
  const match = "command" in validated ? await engine.execute(validated.command) : undefined;
  return JSON.parse(JSON.stringify({ ...event, processed: { validated: { ...validated, match }, enrichment } }));
}

async function recordEvent(event: ReturnType<typeof envelope>) {
  const state = await stateFor(event);
  return { state, summary: await record(state) };
}

async function item(pk: string, sk = "META") {
  return (await scanAll(stack.complianceTable)).find((i) => i.pk === pk && i.sk === sk);
}

async function query(input: Omit<QueryCommandInput, "TableName">) {
  return (await clients().doc.send(new QueryCommand({ TableName: stack.complianceTable, ...input }))).Items ?? [];
}

async function domainEvents(): Promise<{ "detail-type": string; source: string; detail: Record<string, unknown> }[]> {
  return (await drain(stack.busObserverUrl)).map((b) => JSON.parse(b));
}

const versions = (orderId: string) =>
  query({
    KeyConditionExpression: "pk = :pk AND begins_with(sk, :v)",
    ExpressionAttributeValues: { ":pk": `ORDER#${orderId}`, ":v": "V#" },
  });

/** The engine's own current state of an order: what META must equal. */
async function engineState(orderId: string, symbol = "BTC-USD") {
  const state = await engine.getOrder(symbol, orderId);
  if (!state) throw new Error(`the engine does not know ${orderId}`);
  return state;
}

describe("recording a matched order", () => {
  let taker: Awaited<ReturnType<typeof recordEvent>>;

  beforeAll(async () => {
    await drain(stack.busObserverUrl);
    await drain(stack.alertQueueUrl);
    await recordEvent(limit("A-maker", "alice", "SELL", "100", "2"));
    taker = await recordEvent(limit("A-taker", "bob", "BUY", "101", "0.5"));
  });

  test("writes each order's state as the engine holds it, and one version of each, with no read and no derivation", async () => {
    expect(taker.summary).toMatchObject({
      outcome: "RECORDED",
      written: 4,
      duplicates: 0,
      dynamoCalls: 4,
      counts: { orders: 2, trades: 1 },
    });
    const maker = await item("ORDER#A-maker");
    expect(maker).toMatchObject({ ...(await engineState("A-maker")), entity: "ORDER", gsi2pk: "CLIENT#alice" });
    expect(maker).toMatchObject({ status: "PARTIALLY_FILLED", filledQuantity: "0.5", remainingQuantity: "1.5" });
    expect(await item("ORDER#A-taker")).toMatchObject({
      ...(await engineState("A-taker")),
      status: "FILLED",
      averagePrice: "100",
      lastTradeId: "BTC-USD-1",
    });
    expect(await item("SYMBOL#BTC-USD", "LAST_TRADE")).toBeUndefined();
  });

  test("answers every documented access pattern", async () => {
    const history = await versions("A-maker");
    expect(history.map((i) => [i.cause, i.status, i.remainingQuantity])).toEqual([
      ["SUBMIT", "NEW", "2"],
      ["FILL", "PARTIALLY_FILLED", "1.5"],
    ]);
    expect(history[1]?.trades).toEqual([expect.objectContaining({ tradeId: "BTC-USD-1", makerOrderId: "A-maker" })]);
    const bySymbol = await query({
      IndexName: "bySymbolTime",
      KeyConditionExpression: "gsi1pk = :symbol AND gsi1sk BETWEEN :from AND :to",
      ExpressionAttributeValues: {
        ":symbol": "SYMBOL#BTC-USD",
        ":from": "2025-06-02T14:00",
        ":to": "2025-06-02T15:00",
      },
    });
    // The symbol's trades: the taker's version of each command that traded.
    expect(bySymbol.flatMap((i) => (i.trades as { tradeId: string }[]).map((t) => t.tradeId))).toEqual(["BTC-USD-1"]);
    const byClient = await query({
      IndexName: "byClientTime",
      KeyConditionExpression: "gsi2pk = :client AND gsi2sk >= :from",
      ExpressionAttributeValues: { ":client": "CLIENT#bob", ":from": "2025-06-02" },
    });
    expect(byClient.map((i) => `${i.entity}:${i.orderId}`).sort()).toEqual(["ORDER:A-taker", "ORDER_VERSION:A-taker"]);
  });

  test("publishes the domain events and the trade's price tick", async () => {
    const events = (await domainEvents()).filter((e) => e.source === "tradeflow.compliance");
    expect(events.map((e) => [e["detail-type"], e.detail.orderId ?? e.detail.tradeId])).toEqual(
      expect.arrayContaining([
        ["Order Updated", "A-maker"],
        ["Trade Executed", "BTC-USD-1"],
        ["Order Updated", "A-taker"],
      ]),
    );
    expect(events).toHaveLength(4);
    const ticks = (await drain(stack.alertQueueUrl)).map((b) => JSON.parse(b));
    expect(ticks).toEqual([
      {
        symbol: "BTC-USD",
        price: "100",
        tradeId: "BTC-USD-1",
        sequence: 1,
        timestamp: expect.any(Number),
        source: "tradeflow.orders",
      },
    ]);
  });

  test("replaying the same Record input writes nothing, and re-publishes", async () => {
    const before = await scanAll(stack.complianceTable);
    const again = await record(taker.state);
    expect(again).toMatchObject({ outcome: "DUPLICATE", written: 0, duplicates: 4 });
    expect(await scanAll(stack.complianceTable)).toEqual(before);
    expect((await domainEvents()).length).toBe(3);
    expect(await drain(stack.alertQueueUrl)).toHaveLength(1);
  });

  test("the engine's replay of the order, under the same or a new event id, writes nothing", async () => {
    const before = await scanAll(stack.complianceTable);
    const sameEvent = await stateFor(taker.state as ReturnType<typeof envelope>);
    const resubmitted = await stateFor({ ...(taker.state as ReturnType<typeof envelope>), id: "evt-resubmitted" });
    for (const state of [sameEvent, resubmitted]) {
      expect((state.processed as { validated: { match: { replayed: boolean } } }).validated.match.replayed).toBe(true);
      expect(await record(state)).toMatchObject({ outcome: "DUPLICATE", written: 0 });
    }
    expect(await scanAll(stack.complianceTable)).toEqual(before);
  });
});

// Each test trades at its own price level (or symbol), so no test's resting orders meet another's, and inside the
// engine's price band (10 % around BTC-USD's last trade) wherever it trades.
describe("order versions", () => {
  test("an older state never overwrites a newer one, and every version survives, whatever the recording order", async () => {
    const maker = await stateFor(limit("V-maker", "alice", "SELL", "95", "3"));
    const first = await stateFor(limit("V-t1", "bob", "BUY", "95", "1"));
    const second = await stateFor(limit("V-t2", "carol", "BUY", "95", "1"));
    const cancelled = await stateFor(cancel("V-maker", "alice"));

    await record(second);
    await record(first);
    expect(await item("ORDER#V-maker")).toMatchObject({ status: "PARTIALLY_FILLED", remainingQuantity: "1" });
    await record(cancelled);
    await record(first);
    await record(maker);
    expect(await item("ORDER#V-maker")).toMatchObject({
      ...(await engineState("V-maker")),
      status: "CANCELLED",
      quantity: "3",
      filledQuantity: "2",
      cancelledQuantity: "1",
      remainingQuantity: "0",
      averagePrice: "95",
    });
    const history = await versions("V-maker");
    expect(history.map((i) => `${i.cause}:${i.status}`)).toEqual([
      "SUBMIT:NEW",
      "FILL:PARTIALLY_FILLED",
      "FILL:PARTIALLY_FILLED",
      "CANCEL:CANCELLED",
    ]);
    expect(history[0]).toMatchObject({ timeInForce: "GTC", postOnly: false, submittedAt: expect.any(Number) });
  });

  test("concurrent executions filling one maker leave it at the newest fill, with no retry", async () => {
    await recordEvent(limit("C-maker", "alice", "SELL", "97", "5"));
    const takers = [];
    for (let i = 0; i < 5; i++) takers.push(await stateFor(limit(`C-t${i}`, "bob", "BUY", "97", "1")));
    const results = await Promise.all(takers.reverse().map((s) => recordExecution(s, deps())));
    expect(results.map((r) => [r.outcome, r.dynamoCalls])).toEqual(Array(5).fill(["RECORDED", 4]));
    expect(await item("ORDER#C-maker")).toMatchObject({ ...(await engineState("C-maker")), status: "FILLED" });
    expect((await versions("C-maker")).map((i) => i.filledQuantity)).toEqual(["0", "1", "2", "3", "4", "5"]);
  });
});

describe("conflicts and rejections", () => {
  test("a version recorded with other content is a conflict and overwrites nothing", async () => {
    const { state } = await recordEvent(limit("X-1", "alice", "SELL", "105", "1"));
    const processed = state.processed as { validated: { match: { order: Record<string, unknown> } } };
    const { match } = processed.validated;
    const forged = {
      ...state,
      processed: {
        ...processed,
        validated: { ...processed.validated, match: { ...match, order: { ...match.order, quantity: "2" } } },
      },
    };
    const before = await scanAll(stack.complianceTable);
    const summary = await record(forged);
    expect(summary).toMatchObject({ outcome: "CONFLICT" });
    expect(summary.conflicts).toEqual([expect.stringMatching(/^ORDER#X-1\/V#/)]);
    const conflicts = await query({
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": `REJECTION#${state.id}` },
    });
    expect(conflicts).toEqual([
      expect.objectContaining({ sk: expect.stringMatching(/^CONFLICT#/), reasons: ["DUPLICATE_ID_CONFLICT"] }),
    ]);
    const after = await scanAll(stack.complianceTable);
    expect(after.filter((i) => !String(i.pk).startsWith("REJECTION#"))).toEqual(before);
    expect(await record(forged)).toMatchObject({ outcome: "CONFLICT", written: 0 });
  });

  test("the engine's refusals are recorded as rejections: a reused order id, on its own or another symbol", async () => {
    const reused = await recordEvent(limit("X-1", "alice", "SELL", "104", "1"));
    const elsewhere = await recordEvent(limit("X-1", "alice", "SELL", "2500", "1", "ETH-USD"));
    for (const { summary } of [reused, elsewhere]) {
      expect(summary).toMatchObject({ outcome: "RECORDED", counts: { rejections: 1 }, dynamoCalls: 1 });
      expect(await item(`REJECTION#${summary.eventId}`)).toMatchObject({
        stage: "ENGINE",
        reasons: ["DUPLICATE_ORDER_ID"],
        gsi2pk: "CLIENT#alice",
      });
    }
    expect(await item("ORDER#X-1")).toMatchObject({ symbol: "BTC-USD", price: "105" });
    expect((await versions("X-1")).map((i) => i.symbol)).toEqual(["BTC-USD"]);
  });

  test("a validation rejection is recorded once, with its reasons, and announced", async () => {
    await drain(stack.busObserverUrl);
    const { state, summary } = await recordEvent(limit("R-1", "alice", "SELL", "0x10", "1"));
    expect(state).toHaveProperty("rejection");
    expect(summary).toMatchObject({ outcome: "RECORDED", counts: { rejections: 1 } });
    expect(await item(`REJECTION#${summary.eventId}`)).toMatchObject({
      stage: "VALIDATION",
      reasons: ["INVALID_NUMBER"],
      orderId: "R-1",
      gsi1pk: "SYMBOL#BTC-USD",
    });
    const before = await scanAll(stack.complianceTable);
    expect(await record(state)).toMatchObject({ outcome: "DUPLICATE", written: 0 });
    expect(await scanAll(stack.complianceTable)).toEqual(before);
    const rejected = (await domainEvents()).filter((e) => e["detail-type"] === "Order Rejected");
    expect(rejected.map((e) => e.detail.reasons)).toEqual([["INVALID_NUMBER"], ["INVALID_NUMBER"]]);
  });
});

describe("venue trades: the first decision stands", () => {
  const reported = (price: string) =>
    envelope(
      "Trade Reported",
      {
        tradeId: "T-77",
        symbol: "BTC-USD",
        side: "BUY",
        price,
        quantity: "0.5",
        currency: "USD",
        executedAt: 1_748_874_000_000,
        sequence: 77,
      },
      "tradeflow.venue.alpha",
    );
  const withLast = (state: Record<string, unknown>, lastTradePrice: string) => {
    const processed = state.processed as { validated: unknown; enrichment: Record<string, unknown> };
    const instrument = instruments.get("BTC-USD");
    const topOfBook = { symbol: "BTC-USD", bid: null, ask: null, lastTradePrice };
    return { ...state, processed: { ...processed, enrichment: { ...processed.enrichment, instrument, topOfBook } } };
  };

  test("a redelivery after the price moved is answered with the recorded decision, not decided again", async () => {
    const state = await stateFor(reported("60000"));
    const first = await record(withLast(state, "60100"));
    expect(first).toMatchObject({ outcome: "RECORDED", written: 2, counts: { trades: 1 } });
    const moved = await record(withLast(state, "90000"));
    expect(moved).toMatchObject({ outcome: "DUPLICATE", written: 0, counts: { trades: 1 } });
    expect(await item(`REJECTION#${state.id}`)).toBeUndefined();
    expect(await item("TRADE#alpha:T-77")).toMatchObject({ origin: "VENUE", price: "60000" });
  });

  test("a trade outside the band is rejected once, and stays rejected when the price comes back", async () => {
    const state = await stateFor({
      ...reported("70000"),
      id: "evt-far",
      detail: { ...reported("70000").detail, tradeId: "T-78" },
    });
    expect(await record(withLast(state, "60000"))).toMatchObject({ outcome: "RECORDED", counts: { rejections: 1 } });
    expect(await item("REJECTION#evt-far")).toMatchObject({ stage: "RECORDER", reasons: ["PRICE_OUTSIDE_BAND"] });
    expect(await record(withLast(state, "70000"))).toMatchObject({ outcome: "DUPLICATE", counts: { rejections: 1 } });
    expect(await item("TRADE#alpha:T-78")).toBeUndefined();
  });
});

describe("large and interrupted records", () => {
  test("a sweep of 30 makers survives a crash part-way, and the retry writes only what is missing", async () => {
    for (let i = 0; i < 30; i++)
      await recordEvent(limit(`S-m${i}`, "alice", "SELL", String(300 + i), "0.1", "ETH-USD"));
    const sweep = await stateFor(market("S-taker", "bob", "BUY", "3", "ETH-USD"));
    const before = await scanAll(stack.complianceTable);

    // A real client whose requests fail after the 20th, as a Lambda timeout would cut them.
    const { doc } = clients();
    let puts = 0;
    doc.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "PutItemCommand" && ++puts > 20) throw new Error("timed out");
        return next(args);
      },
      { step: "initialize" },
    );
    await expect(recordExecution(sweep, deps({ db: doc }))).rejects.toThrow("timed out");
    const partial = await scanAll(stack.complianceTable);
    expect(partial.length - before.length).toBe(20);

    const completed = await recordExecution(sweep, deps());
    expect(completed).toMatchObject({ outcome: "RECORDED", written: 62 - 20, duplicates: 20 });
    const after = await scanAll(stack.complianceTable);
    // A version of the taker and of each of the 30 makers, and the taker's state; the makers' states moved on.
    expect(after.length - before.length).toBe(32);
    expect(await item("ORDER#S-taker")).toMatchObject({
      ...(await engineState("S-taker", "ETH-USD")),
      status: "FILLED",
    });
    expect(await item("ORDER#S-m29")).toMatchObject({ ...(await engineState("S-m29", "ETH-USD")), status: "FILLED" });

    expect(await recordExecution(sweep, deps())).toMatchObject({ outcome: "DUPLICATE", written: 0 });
    expect(await scanAll(stack.complianceTable)).toEqual(after);
  });

  test("a publish that fails after the write is completed by the retry without writing again", async () => {
    const state = await stateFor(limit("P-1", "alice", "SELL", "103", "1"));
    await expect(recordExecution(state, deps({ busName: "no-such-bus" }))).rejects.toMatchObject({
      name: "RecorderPublishError",
    });
    const written = await scanAll(stack.complianceTable);
    expect(await item("ORDER#P-1")).toMatchObject({ status: "NEW" });
    await drain(stack.busObserverUrl);
    expect(await recordExecution(state, deps())).toMatchObject({ outcome: "DUPLICATE", published: 1 });
    expect(await scanAll(stack.complianceTable)).toEqual(written);
    expect((await domainEvents()).map((e) => e.detail.orderId)).toEqual(["P-1"]);
  });
});
describe("bad input", () => {
  const good = () => stateFor(limit("B-1", "alice", "SELL", "102", "1"));

  test("every malformed state fails with RecordInputInvalid and writes nothing", async () => {
    const state = await good();
    const processed = state.processed as { validated: Record<string, unknown>; enrichment: unknown };
    const match = processed.validated.match as Record<string, unknown>;
    const withValidated = (changes: Record<string, unknown>) => ({
      ...state,
      processed: { ...processed, validated: { ...processed.validated, ...changes } },
    });
    const corpus: [string, unknown][] = [
      ["a broken JSON string", '{"id": "evt-1", "processed": {'],
      ["a number", 42],
      ["an empty object", {}],
      ["a missing validated", { ...state, processed: { enrichment } }],
      ["a wrong kind", withValidated({ kind: "ORDER_AMEND" })],
      ["a numeric quantity", withValidated({ match: { ...match, quantity: 1 } })],
      ["an exponent price", withValidated({ order: { ...(processed.validated.order as object), price: "1e309" } })],
      ["a negative zero price", withValidated({ match: { ...match, averagePrice: "-0" } })],
      ["a hex price", withValidated({ order: { ...(processed.validated.order as object), price: "0x10" } })],
      ["a NaN quantity", withValidated({ match: { ...match, remainingQuantity: "NaN" } })],
      ["a control character in the order id", withValidated({ match: { ...match, orderId: "B-1\u0000" } })],
      ["unicode in the client id", withValidated({ match: { ...match, clientId: "al\u00efce" } })],
      ["an oversized state", { ...state, padding: "x".repeat(300 * 1024) }],
      ["a rejection without a cause", { ...state, processed: undefined, rejection: { Error: "ValidationRejected" } }],
    ];
    const before = await scanAll(stack.complianceTable);
    for (const [label, input] of corpus) {
      await expect(
        record(input).catch((err: Error) => Promise.reject(new Error(`${label}: ${err.name}`))),
      ).rejects.toThrow(`${label}: RecordInputInvalid`);
    }
    expect(await scanAll(stack.complianceTable)).toEqual(before);
  });
});
