import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import {
  ALPHA_TRADE,
  BETA_TRADE,
  CANCEL,
  cancelEvent,
  EVENT_ID,
  envelope,
  GAMMA_TRADE,
  LIMIT_ORDER,
  orderEvent,
  tradeEvent,
} from "../../../../tests/support/test-events";
import { compareDecimal, formatScaled, multiply } from "../decimal";
import { EngineCommandSchema } from "../orderbook/types";
import {
  API_SOURCE,
  DETAIL_TYPES,
  type EventParse,
  exactQuotient,
  MAX_DETAIL_BYTES,
  type NormalizedEvent,
  parseEvent,
  parseRejectionCause,
  parseTradeDetail,
  REASON_CODE_LIST,
  REASON_CODES,
  type ReasonCode,
  toCancelCommand,
  toOrderCommand,
  ValidationRejected,
} from ".";

function accepted(input: unknown): NormalizedEvent {
  const parsed = parseEvent(input);
  if (!parsed.ok) throw new Error(`expected acceptance, got ${JSON.stringify(parsed.violations)}`);
  return parsed.event;
}

function reasonsOf(parsed: EventParse): ReasonCode[] {
  return parsed.ok ? [] : [...new Set(parsed.violations.map((v) => v.reason))];
}

const rejected = (input: unknown) => reasonsOf(parseEvent(input));

describe("envelope", () => {
  it("accepts an EventBridge event and normalizes its time to UTC milliseconds", () => {
    const event = accepted(orderEvent());
    expect(event).toMatchObject({
      kind: "ORDER_SUBMIT",
      eventId: EVENT_ID,
      source: "tradeflow.orders",
      detailType: "Order Submitted",
      eventTime: "2025-06-02T14:30:00.000Z",
    });
  });

  it("ignores fields EventBridge adds, such as replay-name", () => {
    expect(accepted(orderEvent({}, { "replay-name": "nightly" })).kind).toBe("ORDER_SUBMIT");
  });

  it.each([["a string"], [42], [null], [[orderEvent()]], [true], [undefined]])(
    "refuses %p as NOT_AN_EVENT",
    (input) => {
      expect(rejected(input)).toEqual(["NOT_AN_EVENT"]);
    },
  );

  it.each([
    ["version", "1"],
    ["id", "not an id"],
    ["id", undefined],
    ["source", ""],
    ["detail-type", 7],
    ["account", "12345"],
    ["time", "yesterday"],
    ["time", "2025-06-02T14:30:00+02:00"],
    ["region", "Mars"],
    ["resources", "arn"],
  ])("refuses %s = %p as INVALID_ENVELOPE", (field, value) => {
    const parsed = parseEvent(orderEvent({}, { [field]: value }));
    expect(reasonsOf(parsed)).toEqual(["INVALID_ENVELOPE"]);
    expect(parsed.ok || parsed.violations[0]?.path).toBe(field);
  });

  it("refuses a source/detail-type pair it does not process, including its own compliance events", () => {
    expect(rejected(envelope("tradeflow.compliance", "Trade Executed", {}))).toEqual(["UNKNOWN_EVENT_TYPE"]);
    expect(rejected(envelope("tradeflow.orders", "Trade Reported", ALPHA_TRADE))).toEqual(["UNKNOWN_EVENT_TYPE"]);
    expect(rejected(envelope("tradeflow.venue.delta", "Trade Reported", ALPHA_TRADE))).toEqual(["UNKNOWN_EVENT_TYPE"]);
  });

  it.each([
    ["missing", undefined, "is missing"],
    ["broken JSON", '{"clientId": "C-1", ', "not JSON"],
    ["JSON-encoded twice", JSON.stringify(LIMIT_ORDER), "JSON-encoded twice"],
    ["an array", [LIMIT_ORDER], "an array"],
    ["a number", 3, "number"],
    ["null", null, "null"],
  ])("refuses a detail that is %s as MALFORMED_DETAIL", (_, detail, words) => {
    const parsed = parseEvent(envelope("tradeflow.orders", "Order Submitted", detail));
    expect(reasonsOf(parsed)).toEqual(["MALFORMED_DETAIL"]);
    expect(parsed.ok ? "" : parsed.violations[0]?.text).toContain(words);
  });

  it("refuses a detail over MAX_DETAIL_BYTES before looking at its fields", () => {
    const big = orderEvent({ clientId: "x".repeat(MAX_DETAIL_BYTES) });
    expect(rejected(big)).toEqual(["PAYLOAD_TOO_LARGE"]);
    // Multi-byte characters count as bytes, not characters.
    expect(rejected(orderEvent({ note: "é".repeat(MAX_DETAIL_BYTES / 2) }))).toEqual(["PAYLOAD_TOO_LARGE"]);
  });
});

describe("order events", () => {
  it("normalizes a limit order: canonical decimals, defaults, null for absent", () => {
    const event = accepted(
      orderEvent({ price: "150.50", quantity: "100.0", timeInForce: undefined, postOnly: undefined }),
    );
    expect(event.kind === "ORDER_SUBMIT" && event.order).toEqual({
      orderId: "O-1001",
      clientId: "C-1001",
      symbol: "AAPL",
      side: "BUY",
      type: "LIMIT",
      price: "150.5",
      quantity: "100",
      timeInForce: "GTC",
      postOnly: false,
      selfTradePrevention: null,
      idempotencyKey: null,
      submittedAt: "2025-06-02T14:30:00.000Z",
    });
  });

  it("accepts a market order without price, as IOC", () => {
    const event = accepted(
      orderEvent({ type: "MARKET", price: undefined, timeInForce: undefined, postOnly: undefined }),
    );
    expect(event.kind === "ORDER_SUBMIT" && event.order).toMatchObject({
      type: "MARKET",
      price: null,
      timeInForce: "IOC",
    });
  });

  it("refuses a market order that says it could rest", () => {
    const market = { type: "MARKET", price: undefined, postOnly: undefined };
    expect(rejected(orderEvent({ ...market, timeInForce: "GTC" }))).toEqual(["INVALID_FIELD"]);
    expect(rejected(orderEvent({ ...market, timeInForce: undefined, postOnly: true }))).toEqual(["INVALID_FIELD"]);
    expect(rejected(orderEvent({ type: "MARKET", timeInForce: undefined, postOnly: undefined }))).toEqual([
      "UNKNOWN_FIELD",
    ]);
  });

  it("names missing, unknown and invalid fields with their paths", () => {
    const parsed = parseEvent(orderEvent({ quantity: undefined, postonly: true, side: "HOLD" }));
    expect(parsed.ok ? [] : parsed.violations.map((v) => [v.reason, v.path])).toEqual(
      expect.arrayContaining([
        ["MISSING_FIELD", "detail.quantity"],
        ["UNKNOWN_FIELD", "detail.postonly"],
        ["INVALID_FIELD", "detail.side"],
      ]),
    );
    expect(rejected(orderEvent({ type: undefined }))).toEqual(["MISSING_FIELD"]);
    expect(rejected(orderEvent({ type: "STOP" }))).toEqual(["INVALID_FIELD"]);
    expect(rejected(orderEvent({ symbol: "aapl" }))).toEqual(["INVALID_FIELD"]);
  });

  it.each([
    "1e309",
    "-0",
    "0x10",
    "NaN",
    "Infinity",
    " 1",
    "1 ",
    "1.",
    ".5",
    "+1",
    "-1",
    "0",
    "0.00",
    "01",
    "1,5",
    "1_000",
    "١٢",
    "",
    "9".repeat(32),
    150.05,
    null,
    true,
    ["1"],
  ])("refuses the price %p as INVALID_NUMBER", (price) => {
    expect(rejected(orderEvent({ price }))).toEqual(["INVALID_NUMBER"]);
  });

  it.each(["O\u0000001", "O-1\n", "Ö-1", "O 1", "💥", "-leading-dash", "", "x".repeat(65), "O\u202e1", 42])(
    "refuses the order id %p as INVALID_ID",
    (orderId) => {
      expect(rejected(orderEvent({ orderId }))).toEqual(["INVALID_ID"]);
    },
  );

  it("maps an order to the engine's command, the same for a redelivered event", () => {
    const first = accepted(orderEvent({ price: "150.050", postOnly: true, selfTradePrevention: "CANCEL_BOTH" }));
    const again = accepted(
      JSON.parse(JSON.stringify(orderEvent({ price: "150.050", postOnly: true, selfTradePrevention: "CANCEL_BOTH" }))),
    );
    if (first.kind !== "ORDER_SUBMIT" || again.kind !== "ORDER_SUBMIT") throw new Error("not an order");
    const command = toOrderCommand(first.order);
    expect(command).toEqual({
      type: "LIMIT",
      orderId: "O-1001",
      clientId: "C-1001",
      symbol: "AAPL",
      side: "BUY",
      price: "150.05",
      quantity: "100",
      timeInForce: "GTC",
      postOnly: true,
      selfTradePrevention: "CANCEL_BOTH",
      timestamp: Date.parse("2025-06-02T14:30:00Z"),
    });
    expect(toOrderCommand(again.order)).toEqual(command);
    expect(EngineCommandSchema.parse(command)).toEqual(command);
  });

  it("gives a cancel the idempotency key as command id, else the event id", () => {
    const keyed = accepted(cancelEvent({ idempotencyKey: "K-1" }));
    const plain = accepted(cancelEvent());
    if (keyed.kind !== "ORDER_CANCEL" || plain.kind !== "ORDER_CANCEL") throw new Error("not a cancel");
    expect(toCancelCommand(keyed.cancel)).toEqual({
      type: "CANCEL",
      commandId: "K-1",
      orderId: "O-1001",
      clientId: "C-1001",
      symbol: "AAPL",
      timestamp: Date.parse("2025-06-02T14:30:00Z"),
    });
    expect(toCancelCommand(plain.cancel).commandId).toBe(EVENT_ID);
    expect(EngineCommandSchema.parse(toCancelCommand(plain.cancel))).toEqual(toCancelCommand(plain.cancel));
  });
});

describe("orders from the trading API", () => {
  const { clientId, ...body } = LIMIT_ORDER;
  const apiOrder = (detail: unknown) => envelope(API_SOURCE, DETAIL_TYPES.orderSubmitted, detail);

  it("takes the client id from the mapping, beside the body, and is otherwise the tradeflow.orders contract", () => {
    const fromApi = accepted(apiOrder({ order: body, clientId }));
    expect(fromApi).toEqual({ ...accepted(orderEvent({})), source: API_SOURCE });
  });

  it("refuses a body that names a client, and reports body fields under detail.order", () => {
    const parsed = parseEvent(apiOrder({ order: { ...body, clientId: "C-2002" }, clientId }));
    expect(parsed.ok || parsed.violations).toEqual([
      {
        reason: "INVALID_FIELD",
        path: "detail.order.clientId",
        text: "comes from the caller's token, never from the body",
      },
    ]);
    const bad = parseEvent(apiOrder({ order: { ...body, price: "-1", extra: 1 }, clientId }));
    expect(bad.ok || bad.violations.map((v) => [v.reason, v.path])).toEqual([
      ["INVALID_NUMBER", "detail.order.price"],
      ["UNKNOWN_FIELD", "detail.order.extra"],
    ]);
  });

  it("refuses anything but {order, clientId} at the top, and a body that is not an object", () => {
    expect(rejected(apiOrder({ order: body, clientId, orderId: "O-1" }))).toEqual(["UNKNOWN_FIELD"]);
    expect(rejected(apiOrder({ order: body }))).toEqual(["MISSING_FIELD"]);
    expect(rejected(apiOrder({ order: [body], clientId }))).toEqual(["INVALID_FIELD"]);
  });

  it("takes a cancel in the tradeflow.orders shape", () => {
    const cancel = accepted(envelope(API_SOURCE, DETAIL_TYPES.orderCancelRequested, CANCEL));
    expect(cancel).toEqual({ ...accepted(cancelEvent({})), source: API_SOURCE });
  });

  it("takes no other event type from the API", () => {
    const amend = envelope(API_SOURCE, DETAIL_TYPES.orderAmendRequested, { ...CANCEL, price: "1" });
    expect(rejected(amend)).toEqual(["UNKNOWN_EVENT_TYPE"]);
  });
});

describe("trade events", () => {
  const trade = (input: unknown) => {
    const event = accepted(input);
    if (event.kind !== "TRADE") throw new Error("not a trade");
    return event.trade;
  };

  it("normalizes alpha: camelCase, decimal strings, epoch milliseconds", () => {
    expect(trade(tradeEvent("alpha"))).toEqual({
      tradeId: "alpha:A-77001",
      venue: "alpha",
      venueTradeId: "A-77001",
      symbol: "AAPL",
      side: "BUY",
      price: "150.25",
      quantity: "200",
      currency: "USD",
      executedAt: "2025-06-02T14:29:58.250Z",
      venueSequence: 77001,
    });
  });

  it("normalizes beta: snake_case, minor units with a scale, ISO 8601 UTC", () => {
    expect(trade(tradeEvent("beta"))).toEqual({
      tradeId: "beta:B-5521",
      venue: "beta",
      venueTradeId: "B-5521",
      symbol: "AAPL",
      side: "SELL",
      price: "150.2",
      quantity: "50",
      currency: "USD",
      executedAt: "2025-06-02T14:29:59.125Z",
      venueSequence: 5521,
    });
    expect(trade(tradeEvent("beta", { executed_at: "2025-06-02T14:29:59.125999Z" })).executedAt).toBe(
      "2025-06-02T14:29:59.125Z",
    );
  });

  it("normalizes gamma: price = amount / quantity exactly, time with offset to UTC, no side", () => {
    expect(trade(tradeEvent("gamma"))).toEqual({
      tradeId: "gamma:T12345",
      venue: "gamma",
      venueTradeId: "T12345",
      symbol: "AAPL",
      side: null,
      price: "150.05",
      quantity: "10",
      currency: "USD",
      executedAt: "2025-06-02T14:29:57.500Z",
      venueSequence: null,
    });
  });

  it("refuses a gamma amount that is no exact price", () => {
    expect(rejected(tradeEvent("gamma", { amount: "100", quantity: "3" }))).toEqual(["INCONSISTENT_AMOUNT"]);
    expect(rejected(tradeEvent("gamma", { sourceSystem: "system1" }))).toEqual(["INVALID_FIELD"]);
  });

  it.each([
    [{ price_minor: 2 ** 53 }, "INVALID_NUMBER"],
    [{ price_minor: 150.25 }, "INVALID_NUMBER"],
    [{ price_minor: "15025" }, "INVALID_NUMBER"],
    [{ price_minor: 0 }, "INVALID_NUMBER"],
    [{ price_scale: 19 }, "INVALID_NUMBER"],
    [{ quantity_scale: -1 }, "INVALID_NUMBER"],
    [{ aggressor: "BUY" }, "INVALID_FIELD"],
    [{ executed_at: "2025-06-02T10:29:59-04:00" }, "INVALID_TIMESTAMP"],
    [{ executed_at: "1999-12-31T23:59:59Z" }, "INVALID_TIMESTAMP"],
    [{ executed_at: "2025-02-30T14:29:59Z" }, "INVALID_TIMESTAMP"],
  ])("refuses beta %p as %s", (change, reason) => {
    expect(rejected(tradeEvent("beta", change))).toEqual([reason]);
  });

  it.each([
    [{ executedAt: "2025-06-02T14:29:58Z" }, "INVALID_TIMESTAMP"],
    [{ executedAt: 1.5e12 + 0.5 }, "INVALID_TIMESTAMP"],
    [{ executedAt: 1e17 }, "INVALID_TIMESTAMP"],
    [{ currency: "usd" }, "INVALID_FIELD"],
    [{ sequence: -1 }, "INVALID_FIELD"],
  ])("refuses alpha %p as %s", (change, reason) => {
    expect(rejected(tradeEvent("alpha", change))).toEqual([reason]);
  });

  it("keeps the venues' shapes apart: an alpha detail is not a beta trade", () => {
    const parsed = parseEvent(envelope("tradeflow.venue.beta", "Trade Reported", ALPHA_TRADE));
    expect(reasonsOf(parsed)).toEqual(["MISSING_FIELD", "UNKNOWN_FIELD"]);
    expect(rejected(envelope("tradeflow.venue.gamma", "Trade Reported", BETA_TRADE))).toContain("UNKNOWN_FIELD");
    expect(rejected(envelope("tradeflow.venue.alpha", "Trade Reported", GAMMA_TRADE))).toContain("UNKNOWN_FIELD");
  });

  const scaled = (maxScale: number) =>
    fc.record({ digits: fc.bigInt({ min: 1n, max: 10n ** 12n }), scale: fc.integer({ min: 0, max: maxScale }) });

  it("preserves price * quantity exactly for random alpha, beta and gamma trades", () => {
    fc.assert(
      fc.property(scaled(8), scaled(6), ({ digits: p, scale: ps }, { digits: q, scale: qs }) => {
        const price = formatScaled(p, ps);
        const quantity = formatScaled(q, qs);
        const notional = formatScaled(p * q, ps + qs);
        const alpha = parseTradeDetail.alpha({ ...ALPHA_TRADE, price, quantity });
        const beta = parseTradeDetail.beta({
          ...BETA_TRADE,
          price_minor: Number(p),
          price_scale: ps,
          quantity_minor: Number(q),
          quantity_scale: qs,
        });
        const gamma = parseTradeDetail.gamma({ ...GAMMA_TRADE, amount: notional, quantity });
        for (const result of [alpha, beta, gamma]) {
          if (!result.ok) throw new Error(JSON.stringify(result.violations));
          expect(compareDecimal(multiply(result.trade.price, result.trade.quantity), notional)).toBe(0);
          expect(compareDecimal(result.trade.price, price)).toBe(0);
        }
      }),
    );
  });

  it("divides exactly or not at all", () => {
    fc.assert(
      fc.property(scaled(10), scaled(10), ({ digits: a, scale: as }, { digits: b, scale: bs }) => {
        const [x, y] = [formatScaled(a, as), formatScaled(b, bs)];
        const q = exactQuotient(x, y);
        if (q !== null) expect(compareDecimal(multiply(q, y), x)).toBe(0);
        // Any product divides back to its factor.
        expect(exactQuotient(multiply(x, y), y)).toBe(x);
      }),
    );
    expect(exactQuotient("1", "3")).toBeNull();
    expect(exactQuotient("1", "8")).toBe("0.125");
  });
});

describe("ValidationRejected", () => {
  it("is named for the state machine and carries the JSON message the recorder parses", () => {
    const error = new ValidationRejected([
      { reason: "PRICE_OFF_TICK", path: "order.price", text: "150.005 is not a multiple of 0.01" },
      { reason: "PRICE_OFF_TICK", path: "order.price", text: "again" },
      { reason: "UNKNOWN_FIELD", path: "detail.x", text: "is not part of this event's contract" },
    ]);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("ValidationRejected");
    expect(error.reasons).toEqual(["PRICE_OFF_TICK", "UNKNOWN_FIELD"]);
    expect(JSON.parse(error.message)).toEqual({
      reasons: ["PRICE_OFF_TICK", "UNKNOWN_FIELD"],
      message:
        "order.price: 150.005 is not a multiple of 0.01; order.price: again; detail.x: is not part of this event's contract",
    });
  });

  it("lists at most ten violations in words", () => {
    const many = Array.from({ length: 25 }, (_, i) => ({
      reason: "UNKNOWN_FIELD" as const,
      path: `detail.f${i}`,
      text: "x",
    }));
    const { message } = JSON.parse(new ValidationRejected(many).message) as { message: string };
    expect(message.split("; ")).toHaveLength(11);
    expect(message).toMatch(/and 15 more$/);
  });

  it("needs at least one violation", () => {
    expect(() => new ValidationRejected([])).toThrow(TypeError);
  });

  it("round-trips through a Step Functions Cause", () => {
    const error = new ValidationRejected([
      { reason: "UNKNOWN_SYMBOL", path: "", text: "XYZ is not a listed instrument" },
    ]);
    const cause = JSON.stringify({ errorType: error.name, errorMessage: error.message, trace: ["at x"] });
    const expected = { reasons: ["UNKNOWN_SYMBOL"], message: "XYZ is not a listed instrument" };
    expect(parseRejectionCause(cause)).toEqual(expected);
    expect(parseRejectionCause(error.message)).toEqual(expected);
  });

  it.each([
    ["not JSON", "boom"],
    [
      "another error type",
      JSON.stringify({ errorType: "Error", errorMessage: '{"reasons":["UNKNOWN_SYMBOL"],"message":"m"}' }),
    ],
    ["an unknown reason", JSON.stringify({ reasons: ["NOPE"], message: "m" })],
    ["no reasons", JSON.stringify({ reasons: [], message: "m" })],
  ])("parses a cause that is %s to null", (_, cause) => {
    expect(parseRejectionCause(cause)).toBeNull();
  });
});

describe("reason codes", () => {
  it("each has a one-line meaning", () => {
    for (const code of REASON_CODE_LIST) {
      expect(code).toMatch(/^[A-Z_]+$/);
      expect(REASON_CODES[code]).toMatch(/^[A-Z].+\.$/);
      expect(REASON_CODES[code]).not.toContain("\n");
    }
  });
});

describe("docs/contracts.md", () => {
  it("lists every reason code with its meaning", () => {
    const docs = readFileSync(join(process.cwd(), "docs", "contracts.md"), "utf8");
    const rows = [...docs.matchAll(/^\| `([A-Z_]+)` *\| (.+?) *\|$/gm)].map((m) => [m[1], m[2]]);
    expect(Object.fromEntries(rows)).toEqual(REASON_CODES);
  });
});
