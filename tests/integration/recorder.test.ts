// The recorder against DynamoDB Local and moto, fed by the real validator and matching engine (redis-server).
import { QueryCommand, type QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import { type ValidatedEvent, ValidationRejected } from "@tradeflow/common/contracts";
import type { MatchingEngine } from "@tradeflow/common/orderbook";
import type { RecorderDeps, RecordSummary } from "@tradeflow/common/recorder";
import { validateEvent } from "@tradeflow/common/validation";
import type { Context } from "aws-lambda";
import type { Redis } from "ioredis";
import { connect, engineOn, instruments } from "../support/book-fixture";
import { clients, createRecordingStack, drain, lambdaContext, type RecordingStack, scanAll } from "./recording-stack";

let stack: RecordingStack;
let redis: Redis;
let engine: MatchingEngine;
let recorder: (event: unknown, context: Context) => Promise<RecordSummary>;
let recordExecution: typeof import("@tradeflow/common/recorder").recordExecution;

beforeAll(async () => {
  stack = await createRecordingStack();
  process.env.POWERTOOLS_LOG_LEVEL = "SILENT";
  redis = connect(5);
  await redis.flushdb();
  engine = engineOn(redis);
  // Imported after the environment is set: the handler reads it and builds its clients at load time.
  ({ handler: recorder } = await import("../../functions/recorder/index"));
  ({ recordExecution } = await import("@tradeflow/common/recorder"));
});
afterAll(() => redis.quit());

const record = (state: unknown) => recorder(state, lambdaContext("recorder"));

function deps(overrides: Partial<RecorderDeps> = {}): RecorderDeps {
  const { doc, events, sqs } = clients();
  return {
    db: doc,
    events,
    sqs,
    tableName: stack.complianceTable,
    busName: stack.busName,
    alertQueueUrl: stack.alertQueueUrl,
    now: () => new Date(),
    ...overrides,
  };
}

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
    validated = await validateEvent(event, { instruments: async () => instruments, lastTradePrice: async () => null });
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

describe("recording a matched order", () => {
  let taker: Awaited<ReturnType<typeof recordEvent>>;

  beforeAll(async () => {
    await drain(stack.busObserverUrl);
    await drain(stack.alertQueueUrl);
    await recordEvent(limit("A-maker", "alice", "SELL", "100", "2"));
    taker = await recordEvent(limit("A-taker", "bob", "BUY", "101", "0.5"));
  });

  test("writes the orders, the trade under both orders, the status history and LAST_TRADE", async () => {
    expect(taker.summary).toMatchObject({ outcome: "RECORDED", duplicates: 0, counts: { orders: 1, trades: 1 } });
    expect(await item("ORDER#A-maker")).toMatchObject({
      status: "PARTIALLY_FILLED",
      quantity: "2",
      filledQuantity: "0.5",
      remainingQuantity: "1.5",
      price: "100",
      version: 1,
    });
    expect(await item("ORDER#A-taker")).toMatchObject({
      status: "FILLED",
      filledQuantity: "0.5",
      remainingQuantity: "0",
    });
    expect(await item("TRADE#BTC-USD-1")).toMatchObject({ price: "100", quantity: "0.5", makerOrderId: "A-maker" });
    expect(await item("ORDER#A-maker", "TRADE#BTC-USD-1")).toMatchObject({ role: "MAKER", gsi2pk: "CLIENT#alice" });
    expect(await item("ORDER#A-taker", "TRADE#BTC-USD-1")).toMatchObject({ role: "TAKER", gsi2pk: "CLIENT#bob" });
    expect(await item("SYMBOL#BTC-USD", "LAST_TRADE")).toMatchObject({ price: "100", tradeId: "BTC-USD-1" });
  });

  test("answers every documented access pattern", async () => {
    const history = await query({
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :status)",
      ExpressionAttributeValues: { ":pk": "ORDER#A-maker", ":status": "STATUS#" },
    });
    expect(history.map((i) => [i.sk, i.status])).toEqual([
      ["STATUS#000000000000000", "NEW"],
      ["STATUS#000000000000001", "PARTIALLY_FILLED"],
    ]);
    const fills = await query({
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :trade)",
      ExpressionAttributeValues: { ":pk": "ORDER#A-taker", ":trade": "TRADE#" },
    });
    expect(fills.map((i) => i.tradeId)).toEqual(["BTC-USD-1"]);
    const bySymbol = await query({
      IndexName: "bySymbolTime",
      KeyConditionExpression: "gsi1pk = :symbol AND gsi1sk BETWEEN :from AND :to",
      ExpressionAttributeValues: {
        ":symbol": "SYMBOL#BTC-USD",
        ":from": "2025-06-02T14:00",
        ":to": "2025-06-02T15:00",
      },
    });
    expect(bySymbol.map((i) => `${i.entity}:${i.orderId ?? i.tradeId}`)).toEqual(
      expect.arrayContaining(["ORDER:A-maker", "ORDER:A-taker", "TRADE:BTC-USD-1"]),
    );
    const byClient = await query({
      IndexName: "byClientTime",
      KeyConditionExpression: "gsi2pk = :client AND gsi2sk >= :from",
      ExpressionAttributeValues: { ":client": "CLIENT#bob", ":from": "2025-06-02" },
    });
    expect(byClient.map((i) => `${i.entity}:${i.sk}`)).toEqual(["ORDER:META", "ORDER_TRADE:TRADE#BTC-USD-1"]);
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
    expect(again).toMatchObject({ outcome: "DUPLICATE", written: 0 });
    expect(again.duplicates).toBeGreaterThan(0);
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

// Each test trades at its own price level (or symbol), so no test's resting orders meet another's.
describe("order versions", () => {
  test("an older status never overwrites a newer one, whatever order the executions are recorded in", async () => {
    const maker = await stateFor(limit("V-maker", "alice", "SELL", "90", "3"));
    const first = await stateFor(limit("V-t1", "bob", "BUY", "90", "1"));
    const second = await stateFor(limit("V-t2", "carol", "BUY", "90", "1"));
    const cancelled = await stateFor(cancel("V-maker", "alice"));

    await record(second);
    await record(first);
    expect(await item("ORDER#V-maker")).toMatchObject({ status: "PARTIALLY_FILLED", remainingQuantity: "1" });
    await record(cancelled);
    await record(first);
    // The order's own submission, recorded last: its attributes are added, its NEW status is not.
    await record(maker);
    const meta = await item("ORDER#V-maker");
    expect(meta).toMatchObject({
      status: "CANCELLED",
      quantity: "3",
      filledQuantity: "2",
      cancelledQuantity: "1",
      remainingQuantity: "0",
      price: "90",
      gsi1pk: "SYMBOL#BTC-USD",
    });
    const history = await query({
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :status)",
      ExpressionAttributeValues: { ":pk": "ORDER#V-maker", ":status": "STATUS#" },
    });
    expect(history.map((i) => i.status)).toEqual(["NEW", "PARTIALLY_FILLED", "PARTIALLY_FILLED", "CANCELLED"]);
  });

  test("concurrent executions filling one maker leave it at the newest fill", async () => {
    await recordEvent(limit("C-maker", "alice", "SELL", "80", "5"));
    const takers = [];
    for (let i = 0; i < 5; i++) takers.push(await stateFor(limit(`C-t${i}`, "bob", "BUY", "80", "1")));
    const results = await Promise.all(takers.map((s) => recordExecution(s, deps())));
    expect(results.every((r) => r.outcome === "RECORDED")).toBe(true);
    expect(await item("ORDER#C-maker")).toMatchObject({
      status: "FILLED",
      filledQuantity: "5",
      remainingQuantity: "0",
    });
  });
});

describe("conflicts and rejections", () => {
  test("an order id reused for other content is recorded as a conflict and overwrites nothing", async () => {
    const { state } = await recordEvent(limit("X-1", "alice", "SELL", "200", "1"));
    const original = await item("ORDER#X-1");
    const processed = state.processed as { validated: { order: Record<string, unknown> } };
    const forged = {
      ...state,
      id: "evt-forged",
      processed: {
        ...processed,
        validated: {
          ...processed.validated,
          eventId: "evt-forged",
          order: { ...processed.validated.order, price: "150" },
        },
      },
    };
    const summary = await record(forged);
    expect(summary).toMatchObject({ outcome: "CONFLICT", conflicts: ["ORDER#X-1/META"] });
    expect(await item("ORDER#X-1")).toEqual(original);
    const conflicts = await query({
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": "REJECTION#evt-forged" },
    });
    expect(conflicts).toEqual([
      expect.objectContaining({
        sk: expect.stringMatching(/^CONFLICT#/),
        reasons: ["DUPLICATE_ID_CONFLICT"],
        stage: "RECORDER",
      }),
    ]);
    const before = await scanAll(stack.complianceTable);
    expect(await record(forged)).toMatchObject({ outcome: "CONFLICT", written: 0 });
    expect(await scanAll(stack.complianceTable)).toEqual(before);
  });

  test("an event id reused for another payload is a conflict", async () => {
    const { state } = await recordEvent(limit("X-2", "alice", "SELL", "200", "1"));
    const other = await stateFor({ ...limit("X-3", "alice", "SELL", "200", "1"), id: state.id as string });
    expect(await record(other)).toMatchObject({ outcome: "CONFLICT", conflicts: [`EVENT#${state.id}/META`] });
    expect(await item("ORDER#X-3")).toBeUndefined();
  });

  test("the engine's refusal of a reused order id is recorded as a rejection", async () => {
    const { summary } = await recordEvent(limit("X-2", "alice", "SELL", "250", "1"));
    expect(summary).toMatchObject({ outcome: "RECORDED", counts: { rejections: 1 } });
    const rejection = await item(`REJECTION#${summary.eventId}`);
    expect(rejection).toMatchObject({ stage: "ENGINE", reasons: ["DUPLICATE_ORDER_ID"], gsi2pk: "CLIENT#alice" });
    expect(await item("ORDER#X-2")).toMatchObject({ price: "200" });
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

describe("large and interrupted records", () => {
  test("a sweep of 30 makers (over 100 items) survives a crash between transactions", async () => {
    for (let i = 0; i < 30; i++)
      await recordEvent(limit(`S-m${i}`, "alice", "SELL", String(300 + i), "0.1", "ETH-USD"));
    const sweep = await stateFor(market("S-taker", "bob", "BUY", "3", "ETH-USD"));
    const before = await scanAll(stack.complianceTable);

    // A real client that dies after its first transaction, as a Lambda timeout would.
    const { doc } = clients();
    let transactions = 0;
    doc.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "TransactWriteItemsCommand" && ++transactions === 2) throw new Error("timed out");
        return next(args);
      },
      { step: "initialize" },
    );
    await expect(recordExecution(sweep, deps({ db: doc }))).rejects.toThrow("timed out");
    const partial = await scanAll(stack.complianceTable);
    expect(partial.length - before.length).toBe(100);

    const completed = await recordExecution(sweep, deps());
    expect(completed.outcome).toBe("RECORDED");
    const after = await scanAll(stack.complianceTable);
    // 30 trades x (trade, taker fill, maker fill, maker status), the taker's status and META, the receipt,
    // and ETH-USD's first LAST_TRADE.
    expect(after.length - before.length).toBe(30 * 4 + 2 + 1 + 1);
    expect(await item("ORDER#S-taker")).toMatchObject({ status: "FILLED", filledQuantity: "3" });
    expect(await item("ORDER#S-m29")).toMatchObject({ status: "FILLED", filledQuantity: "0.1" });
    expect(await item("SYMBOL#ETH-USD", "LAST_TRADE")).toMatchObject({ price: "329" });

    expect(await recordExecution(sweep, deps())).toMatchObject({ outcome: "DUPLICATE", written: 0 });
    expect(await scanAll(stack.complianceTable)).toEqual(after);
  });

  test("a publish that fails after the write is completed by the retry without writing again", async () => {
    const state = await stateFor(limit("P-1", "alice", "SELL", "400", "1"));
    await expect(recordExecution(state, deps({ busName: "no-such-bus" }))).rejects.toThrow();
    const written = await scanAll(stack.complianceTable);
    expect(await item("ORDER#P-1")).toMatchObject({ status: "NEW" });
    await drain(stack.busObserverUrl);
    expect(await recordExecution(state, deps())).toMatchObject({ outcome: "DUPLICATE", published: 1 });
    expect(await scanAll(stack.complianceTable)).toEqual(written);
    expect((await domainEvents()).map((e) => e.detail.orderId)).toEqual(["P-1"]);
  });
});

describe("bad input", () => {
  const good = () => stateFor(limit("B-1", "alice", "SELL", "500", "1"));

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
