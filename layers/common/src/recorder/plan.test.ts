import type { CommandResult, OrderState, Trade, ValidatedEvent } from "../contracts";
import { parseRecordInput, RecordInputInvalid } from "./input";
import { contentHash, decideVenueTrade, planRecord } from "./plan";

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
const checks = { skipped: [] };
const AT = 1_748_874_600_000;

const detail = {
  clientId: "bob",
  orderId: "B1",
  symbol: "AAPL",
  side: "BUY",
  type: "LIMIT",
  price: "101",
  quantity: "30",
};

function trade(sequence: number, maker: string, quantity: string, makerRemainingQuantity: string): Trade {
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
    timestamp: AT,
    makerRemainingQuantity,
  };
}

function state(overrides: Partial<OrderState>): OrderState {
  return {
    orderId: "B1",
    clientId: "bob",
    symbol: "AAPL",
    side: "BUY",
    orderType: "LIMIT",
    price: "101",
    status: "FILLED",
    quantity: "30",
    filledQuantity: "30",
    remainingQuantity: "0",
    cancelledQuantity: "0",
    averagePrice: "100",
    lastTradeId: "AAPL-8",
    version: 12,
    submittedAt: AT,
    ...overrides,
  };
}

const S1 = state({
  orderId: "S1",
  clientId: "alice",
  side: "SELL",
  price: "100",
  quantity: "10",
  filledQuantity: "10",
  lastTradeId: "AAPL-7",
  submittedAt: AT - 5000,
});
const S2 = state({
  orderId: "S2",
  clientId: "alice",
  side: "SELL",
  price: "100",
  status: "PARTIALLY_FILLED",
  quantity: "25",
  filledQuantity: "20",
  remainingQuantity: "5",
  submittedAt: AT - 4000,
});

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
    order: state({}),
    affected: [S1, S2],
    selfTradePreventions: [],
    openOrdersLeft: null,
    version: 12,
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
      selfTradePrevention: null,
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
      timestamp: AT,
    },
  };
  return { ...envelope(id, "Order Submitted", detail), processed: { validated: { ...validated, match }, enrichment } };
}

const keys = (plan: ReturnType<typeof planRecord>) => plan.facts.map((f) => `${f.key.pk}/${f.key.sk}`);

describe("planRecord: a matched order", () => {
  const plan = planRecord(parseRecordInput(submitState(result({}))));

  test("records one version of the taker and of each maker, keyed by the engine's version", () => {
    expect(keys(plan)).toEqual([
      "ORDER#B1/V#000000000000012",
      "ORDER#S1/V#000000000000012",
      "ORDER#S2/V#000000000000012",
    ]);
    expect(plan.facts[0]?.item).toMatchObject({ cause: "SUBMIT", trades: result({}).trades, timeInForce: "GTC" });
    expect(plan.facts[1]?.item).toMatchObject({ cause: "FILL", trades: [trade(7, "S1", "10", "0")] });
  });

  test("writes every order's state exactly as the engine reported it, nothing derived", () => {
    expect(plan.states.map((s) => s.state)).toEqual([state({}), S1, S2]);
    expect(plan.states.map((s) => `${s.key.pk}/${s.key.sk}`)).toEqual([
      "ORDER#B1/META",
      "ORDER#S1/META",
      "ORDER#S2/META",
    ]);
    expect(plan.states[1]?.item).toMatchObject({ ...S1, entity: "ORDER", gsi2pk: "CLIENT#alice" });
  });

  test("indexes the taker's version (the command's trades) by symbol, and every version with fills by client", () => {
    const [taker, maker] = plan.facts.map((f) => f.item);
    expect(taker).toMatchObject({
      gsi1pk: "SYMBOL#AAPL",
      gsi1sk: "2025-06-02T14:30:00.000Z#B1#12",
      gsi2pk: "CLIENT#bob",
    });
    expect(maker).toMatchObject({ gsi2pk: "CLIENT#alice" });
    expect(maker).not.toHaveProperty("gsi1pk");
  });

  test("publishes every trade and order change, and one tick per trade", () => {
    expect(plan.events.map((e) => e.detailType)).toEqual([
      "Trade Executed",
      "Trade Executed",
      "Order Updated",
      "Order Updated",
      "Order Updated",
    ]);
    expect(plan.events[3]?.detail).toEqual({ ...S1, eventId: "e-submit" });
    expect(plan.ticks.map((t) => [t.tradeId, t.sequence, t.price, t.timestamp])).toEqual([
      ["AAPL-7", 7, "100", AT],
      ["AAPL-8", 8, "100", AT],
    ]);
    expect(plan.counts).toEqual({ orders: 3, trades: 2, rejections: 0 });
  });

  test("is a function of the result's content: the same order under another event plans the same hashes", () => {
    const again = planRecord(parseRecordInput(submitState(result({ replayed: true }), "e-resent")));
    expect(again.facts.map((f) => f.contentHash)).toEqual(plan.facts.map((f) => f.contentHash));
  });
});

describe("planRecord: other outcomes", () => {
  test("an engine rejection records a rejection and touches no order", () => {
    const rejected = result({
      status: "REJECTED",
      reason: "PRICE_OUTSIDE_BAND",
      message: "outside the band",
      trades: [],
      filledQuantity: "0",
      remainingQuantity: "0",
      averagePrice: null,
      order: null,
      affected: [],
    });
    const plan = planRecord(parseRecordInput(submitState(rejected)));
    expect(keys(plan)).toEqual(["REJECTION#e-submit/META"]);
    expect(plan.states).toEqual([]);
    expect(plan.facts[0]?.item).toMatchObject({
      stage: "ENGINE",
      reasons: ["PRICE_OUTSIDE_BAND"],
      gsi2pk: "CLIENT#bob",
    });
    expect(plan.events.map((e) => e.detailType)).toEqual(["Order Rejected"]);
  });

  test("a validation rejection keeps the reasons, and an event without a usable id is named by its content", () => {
    const cause = JSON.stringify({
      errorType: "ValidationRejected",
      errorMessage: JSON.stringify({ reasons: ["INVALID_ID"], message: "detail.orderId: bad" }),
    });
    const event = {
      ...envelope("bad id\u0000", "Order Submitted", { orderId: "x y", symbol: "AAPL" }),
      rejection: { Error: "ValidationRejected", Cause: cause },
    };
    const plan = planRecord(parseRecordInput(event));
    expect(plan.facts[0]?.key.pk).toMatch(/^REJECTION#unidentified:[0-9a-f]{32}$/);
    expect(plan.facts[0]?.item).toMatchObject({ reasons: ["INVALID_ID"], symbol: "AAPL", gsi1pk: "SYMBOL#AAPL" });
    expect(plan.facts[0]?.item).not.toHaveProperty("orderId");
  });

  test("content hashes ignore key order", () => {
    expect(contentHash({ a: 1, b: { c: "x", d: [1, 2] } })).toBe(contentHash({ b: { d: [1, 2], c: "x" }, a: 1 }));
    expect(contentHash({ a: 1 })).not.toBe(contentHash({ a: "1" }));
  });
});

describe("planRecord: a venue trade", () => {
  const instrument = {
    symbol: "AAPL",
    baseCurrency: "AAPL",
    quoteCurrency: "USD",
    tickSize: "0.01",
    lotSize: "1",
    status: "TRADING" as const,
    maxQuantity: "100000",
    maxNotional: "10000000",
    priceBandBps: 500,
  };
  const tradeState = (price: string, last: string | null) => {
    const reported = {
      tradeId: "alpha:T1",
      venue: "alpha",
      venueTradeId: "T1",
      symbol: "AAPL",
      side: "BUY",
      price,
      quantity: "5",
      currency: "USD",
      executedAt: "2025-06-02T14:30:00.000Z",
      venueSequence: 3,
    };
    const validated = {
      kind: "TRADE",
      eventId: "e-trade",
      source: "tradeflow.venue.alpha",
      detailType: "Trade Reported",
      eventTime: "2025-06-02T14:30:00.000Z",
      checks,
      trade: reported,
    };
    const topOfBook = { symbol: "AAPL", bid: null, ask: null, lastTradePrice: last };
    return parseRecordInput({
      ...envelope("e-trade", "Trade Reported", {}, "tradeflow.venue.alpha"),
      processed: { validated, enrichment: { ...enrichment, instrument, topOfBook } },
    });
  };

  test("is held to the band around the engine's last trade price, edges included", () => {
    expect(decideVenueTrade(tradeState("105", "100"))).toEqual({ outcome: "ACCEPTED" });
    expect(decideVenueTrade(tradeState("95", "100"))).toEqual({ outcome: "ACCEPTED" });
    expect(decideVenueTrade(tradeState("105.01", "100"))).toMatchObject({
      outcome: "REJECTED",
      reasons: ["PRICE_OUTSIDE_BAND"],
    });
    expect(decideVenueTrade(tradeState("500", null))).toEqual({ outcome: "ACCEPTED" });
  });

  test("writes its receipt with the decision first, then the trade; a recorded decision overrides a new one", () => {
    const input = tradeState("105.01", "100");
    const rejected = planRecord(input);
    expect(rejected.receipt?.key).toEqual({ pk: "EVENT#e-trade", sk: "META" });
    expect(keys(rejected)).toEqual(["REJECTION#e-trade/META"]);
    expect(rejected.facts[0]?.item).toMatchObject({ stage: "RECORDER", reasons: ["PRICE_OUTSIDE_BAND"] });
    const firstDecision = planRecord(input, { outcome: "ACCEPTED" });
    expect(keys(firstDecision)).toEqual(["TRADE#alpha:T1/META"]);
    expect(firstDecision.receipt?.contentHash).toBe(rejected.receipt?.contentHash);
    expect(firstDecision.ticks).toEqual([
      {
        symbol: "AAPL",
        price: "105.01",
        tradeId: "alpha:T1",
        sequence: 3,
        timestamp: AT,
        source: "tradeflow.venue.alpha",
      },
    ]);
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
    ["a trade whose maker has no state", withMatch({ ...validated.match, affected: [S2] })],
    [
      "an order state without a trade or prevention",
      withMatch({ ...validated.match, affected: [S1, S2, { ...S2, orderId: "S3" }] }),
    ],
    ["an order state of another order", withMatch({ ...validated.match, order: { ...state({}), orderId: "B2" } })],
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
