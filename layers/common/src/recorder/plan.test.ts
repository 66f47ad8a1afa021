import type { ValidatedEvent } from "../contracts";
import { type CommandResult, type EngineTrade, parseRecordInput, RecordInputInvalid } from "./input";
import { contentHash, planRecord, TERMINAL_VERSION, versionOf } from "./plan";

const envelope = (id: string, detailType: string, detail: unknown, source = "tradeflow.orders") => ({
  version: "0",
  id,
  "detail-type": detailType,
  source,
  account: "123456789012",
  time: "2025-06-02T14:30:00Z",
  region: "us-east-1",
  resources: [],
  detail,
});

const enrichment = { session: "CONTINUOUS", defaulted: ["topOfBook: not needed"] };
const checks = { lastTradePrice: null, skipped: [] };

const detail = {
  clientId: "bob",
  orderId: "B1",
  symbol: "AAPL",
  side: "BUY",
  type: "LIMIT",
  price: "101",
  quantity: "30",
};

function trade(sequence: number, maker: string, quantity: string, makerRemainingQuantity: string): EngineTrade {
  return {
    tradeId: `AAPL-${sequence}`,
    symbol: "AAPL",
    price: "100",
    quantity,
    makerOrderId: maker,
    makerClientId: "alice",
    takerOrderId: "B1",
    takerClientId: "bob",
    aggressorSide: "BUY",
    sequence,
    timestamp: 1_748_874_600_000,
    makerRemainingQuantity,
  };
}

function result(overrides: Partial<CommandResult>): CommandResult {
  return {
    commandType: "LIMIT",
    orderId: "B1",
    clientId: "bob",
    symbol: "AAPL",
    side: "BUY",
    status: "FILLED",
    reason: null,
    message: null,
    quantity: "30",
    filledQuantity: "30",
    remainingQuantity: "0",
    cancelledQuantity: "0",
    averagePrice: "100",
    trades: [trade(7, "S1", "10", "0"), trade(8, "S2", "20", "5")],
    replayed: false,
    ...overrides,
  };
}

function submitState(match: CommandResult, id = "e-submit") {
  const validated: ValidatedEvent = {
    kind: "ORDER_SUBMIT",
    eventId: id,
    source: "tradeflow.orders",
    detailType: "Order Submitted",
    eventTime: "2025-06-02T14:30:00.000Z",
    checks,
    order: {
      ...detail,
      side: "BUY",
      type: "LIMIT",
      timeInForce: "GTC",
      postOnly: false,
      idempotencyKey: null,
      submittedAt: "2025-06-02T14:30:00.000Z",
    },
    command: {
      type: "LIMIT",
      orderId: "B1",
      clientId: "bob",
      symbol: "AAPL",
      side: "BUY",
      price: "101",
      quantity: "30",
      timeInForce: "GTC",
      postOnly: false,
      timestamp: 1_748_874_600_000,
    },
  };
  return { ...envelope(id, "Order Submitted", detail), processed: { validated: { ...validated, match }, enrichment } };
}

const keys = (plan: ReturnType<typeof planRecord>) => plan.facts.map((f) => `${f.key.pk}/${f.key.sk}`);

describe("planRecord: a matched order", () => {
  const plan = planRecord(parseRecordInput(submitState(result({}))));

  test("records the trade, the trade under both orders and every status change", () => {
    expect(keys(plan)).toEqual([
      "ORDER#B1/STATUS#000000000000008",
      "TRADE#AAPL-7/META",
      "ORDER#B1/TRADE#AAPL-7",
      "ORDER#S1/TRADE#AAPL-7",
      "ORDER#S1/STATUS#000000000000007",
      "TRADE#AAPL-8/META",
      "ORDER#B1/TRADE#AAPL-8",
      "ORDER#S2/TRADE#AAPL-8",
      "ORDER#S2/STATUS#000000000000008",
    ]);
  });

  test("moves the taker and each maker to its state after the fill", () => {
    expect(plan.orders.map((o) => [o.orderId, o.status, o.version, o.remainingQuantity])).toEqual([
      ["B1", "FILLED", 8, "0"],
      ["S1", "FILLED", 7, "0"],
      ["S2", "PARTIALLY_FILLED", 8, "5"],
    ]);
    expect(plan.orders[1]?.side).toBe("SELL");
    expect(plan.orders[0]?.submission?.attributes).toMatchObject({
      gsi1pk: "SYMBOL#AAPL",
      gsi1sk: "2025-06-02T14:30:00.000Z#B1",
      gsi2pk: "CLIENT#bob",
      submitEventId: "e-submit",
    });
  });

  test("indexes trades by symbol and each order's fills by that order's client", () => {
    const item = (pk: string, sk: string) => plan.facts.find((f) => f.key.pk === pk && f.key.sk === sk)?.item;
    expect(item("TRADE#AAPL-7", "META")).toMatchObject({
      gsi1pk: "SYMBOL#AAPL",
      gsi1sk: "2025-06-02T14:30:00.000Z#AAPL-7",
    });
    expect(item("ORDER#S1", "TRADE#AAPL-7")).toMatchObject({ role: "MAKER", gsi2pk: "CLIENT#alice" });
    expect(item("ORDER#B1", "TRADE#AAPL-7")).toMatchObject({ role: "TAKER", gsi2pk: "CLIENT#bob" });
  });

  test("publishes every trade and order change, and one tick per trade", () => {
    expect(plan.events.map((e) => e.detailType)).toEqual([
      "Trade Executed",
      "Trade Executed",
      "Order Updated",
      "Order Updated",
      "Order Updated",
    ]);
    expect(plan.ticks).toEqual([
      {
        symbol: "AAPL",
        price: "100",
        tradeId: "AAPL-7",
        sequence: 7,
        timestamp: 1_748_874_600_000,
        source: "tradeflow.orders",
      },
      {
        symbol: "AAPL",
        price: "100",
        tradeId: "AAPL-8",
        sequence: 8,
        timestamp: 1_748_874_600_000,
        source: "tradeflow.orders",
      },
    ]);
    expect(plan.counts).toEqual({ orders: 1, trades: 2, rejections: 0 });
  });

  test("is a function of the event's content: the same state plans the same facts", () => {
    const again = planRecord(parseRecordInput(JSON.parse(JSON.stringify(submitState(result({}))))));
    expect(again.facts.map((f) => f.contentHash)).toEqual(plan.facts.map((f) => f.contentHash));
  });
});

describe("planRecord: other outcomes", () => {
  test("an engine rejection records a rejection and touches no order", () => {
    const plan = planRecord(
      parseRecordInput(
        submitState(
          result({
            status: "REJECTED",
            reason: "DUPLICATE_ORDER_ID",
            message: "used",
            trades: [],
            filledQuantity: "0",
            remainingQuantity: "0",
            averagePrice: null,
          }),
        ),
      ),
    );
    expect(keys(plan)).toEqual(["REJECTION#e-submit/META"]);
    expect(plan.orders).toEqual([]);
    expect(plan.facts[0]?.item).toMatchObject({
      stage: "ENGINE",
      reasons: ["DUPLICATE_ORDER_ID"],
      gsi2pk: "CLIENT#bob",
    });
    expect(plan.events.map((e) => e.detailType)).toEqual(["Order Rejected"]);
  });

  test("a validation rejection keeps the reasons, and an event without a usable id is named by its content", () => {
    const cause = JSON.stringify({
      errorType: "ValidationRejected",
      errorMessage: JSON.stringify({ reasons: ["INVALID_ID"], message: "detail.orderId: bad" }),
    });
    const state = {
      ...envelope("bad id\u0000", "Order Submitted", { orderId: "x y", symbol: "AAPL" }),
      rejection: { Error: "ValidationRejected", Cause: cause },
    };
    const plan = planRecord(parseRecordInput(state));
    expect(plan.facts[0]?.key.pk).toMatch(/^REJECTION#unidentified:[0-9a-f]{32}$/);
    expect(plan.facts[0]?.item).toMatchObject({ reasons: ["INVALID_ID"], symbol: "AAPL", gsi1pk: "SYMBOL#AAPL" });
    expect(plan.facts[0]?.item).not.toHaveProperty("orderId");
  });

  test("versions: cancelled is terminal, fills take their trade sequence, a resting order starts at 0", () => {
    expect(versionOf("CANCELLED", [trade(9, "S1", "1", "0")])).toBe(TERMINAL_VERSION);
    expect(versionOf("PARTIALLY_FILLED", [trade(9, "S1", "1", "0"), trade(4, "S2", "1", "0")])).toBe(9);
    expect(versionOf("NEW", [])).toBe(0);
  });

  test("content hashes ignore key order", () => {
    expect(contentHash({ a: 1, b: { c: "x", d: [1, 2] } })).toBe(contentHash({ b: { d: [1, 2], c: "x" }, a: 1 }));
    expect(contentHash({ a: 1 })).not.toBe(contentHash({ a: "1" }));
  });
});

describe("parseRecordInput: bad input", () => {
  const good = submitState(result({}));
  const validated = good.processed.validated;
  const withMatch = (match: unknown) => ({
    ...good,
    processed: { ...good.processed, validated: { ...validated, match } },
  });
  const withTrade = (overrides: Record<string, unknown>) =>
    withMatch({ ...validated.match, trades: [{ ...validated.match.trades[0], ...overrides }] });

  test.each([
    ["a string", "not a state"],
    ["null", null],
    ["an array", []],
    ["no processed", { ...good, processed: undefined }],
    ["no enrichment", { ...good, processed: { validated } }],
    ["a mismatched event id", { ...good, id: "other" }],
    ["an order without a match", withMatch(undefined)],
    ["a match for another order", withMatch({ ...validated.match, orderId: "B2" })],
    ["a numeric price", withTrade({ price: 100 })],
    ["an exponent price", withTrade({ price: "1e309" })],
    ["a negative zero price", withTrade({ price: "-0" })],
    ["a hex price", withTrade({ price: "0x10" })],
    ["a NaN price", withTrade({ price: "NaN" })],
    ["a control character in a trade id", withTrade({ tradeId: "AAPL-7\u0007" })],
    ["unicode in a maker id", withTrade({ makerOrderId: "S\u00e91" })],
    ["a fractional sequence", withTrade({ sequence: 7.5 })],
    ["a trade of another taker", withTrade({ takerOrderId: "X9" })],
    ["a self-match", withTrade({ makerOrderId: "B1" })],
    [
      "the same trade twice",
      withMatch({ ...validated.match, trades: [validated.match.trades[0], validated.match.trades[0]] }),
    ],
    ["an oversized state", { ...good, padding: "x".repeat(300 * 1024) }],
    [
      "a rejection with a broken cause",
      { ...envelope("e1", "Order Submitted", {}), rejection: { Error: "ValidationRejected", Cause: "{" } },
    ],
    [
      "a rejection of another error",
      { ...envelope("e1", "Order Submitted", {}), rejection: { Error: "States.Timeout", Cause: "" } },
    ],
  ])("rejects %s with RecordInputInvalid", (_label, state) => {
    expect(() => parseRecordInput(state)).toThrow(RecordInputInvalid);
  });
});
