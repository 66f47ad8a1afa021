import type { Trade } from "../contracts";
import { cursorScope, decodeCursor, encodeCursor, START } from "./cursor";
import { ApiProblem, internalProblem, problemResponse } from "./problem";
import { fillsOf } from "./reads";

const scope = cursorScope("GET /orders", "alice");
const key = { pk: "ORDER#o1", sk: "META", gsi2pk: "CLIENT#alice", gsi2sk: "2025-06-02T14:00:00.000Z#o1" };
const any = () => true;

function refusal(run: () => unknown): unknown {
  try {
    run();
  } catch (err) {
    return err instanceof ApiProblem ? err.body() : err;
  }
  throw new Error("expected a refusal");
}

describe("cursors", () => {
  test("round-trip a position, as base64url only", () => {
    const cursor = encodeCursor(scope, { key, skip: 3 });
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, scope, any)).toEqual({ key, skip: 3 });
    expect(decodeCursor(undefined, scope, any)).toBe(START);
  });

  test.each([
    ["another client's", encodeCursor(cursorScope("GET /orders", "bob"), { key, skip: 0 })],
    ["another route's", encodeCursor(cursorScope("GET /fills", "alice"), { key, skip: 0 })],
    ["a truncated", encodeCursor(scope, { key, skip: 0 }).slice(0, -5)],
    ["a non-base64url", "eyJ+c2NvcGUi/Q=="],
    ["a JSON but foreign", Buffer.from(JSON.stringify({ scope, key, skip: 0, more: 1 })).toString("base64url")],
    ["a negative skip", Buffer.from(JSON.stringify({ scope, key, skip: -1 })).toString("base64url")],
    ["an empty", ""],
  ])("refuse %s cursor as INVALID_CURSOR", (_, cursor) => {
    expect(refusal(() => decodeCursor(cursor, scope, any))).toMatchObject({ status: 400, code: "INVALID_CURSOR" });
  });

  test("refuse a key the query does not accept", () => {
    const cursor = encodeCursor(scope, { key: { ...key, gsi2pk: "CLIENT#bob" }, skip: 0 });
    const accepts = (k: Record<string, string>) => k.gsi2pk === "CLIENT#alice";
    expect(refusal(() => decodeCursor(cursor, scope, accepts))).toMatchObject({ code: "INVALID_CURSOR" });
    expect(decodeCursor(encodeCursor(scope, { key, skip: 0 }), scope, accepts).key).toEqual(key);
  });
});

describe("problem details", () => {
  test("carry the stable code, its status and type, as application/problem+json", () => {
    const response = problemResponse(new ApiProblem("ORDER_NOT_FOUND", "no order o1"));
    expect(response.statusCode).toBe(404);
    expect(response.headers).toEqual({ "content-type": "application/problem+json" });
    expect(JSON.parse(response.body)).toEqual({
      type: "https://tradeflow.example/problems/order-not-found",
      title: "Order not found",
      status: 404,
      detail: "no order o1",
      code: "ORDER_NOT_FOUND",
    });
  });

  test("an internal error says nothing of its cause", () => {
    expect(internalProblem().body()).toEqual({
      type: "https://tradeflow.example/problems/internal",
      title: "Internal error",
      status: 500,
      detail: "The request could not be completed.",
      code: "INTERNAL",
    });
  });
});

describe("fills of an order", () => {
  const trade = (n: number, maker: string, taker: string): Trade => ({
    tradeId: `AAPL-${n}`,
    symbol: "AAPL",
    price: "100.5",
    quantity: String(n),
    makerOrderId: maker,
    makerClientId: "alice",
    takerOrderId: taker,
    takerClientId: "bob",
    aggressorSide: "BUY",
    sequence: n,
    timestamp: Date.UTC(2025, 5, 2, 14, 0, n),
    makerRemainingQuantity: "0",
  });

  test("each trade it made or took once, with its side and liquidity", () => {
    const order = { orderId: "o1", symbol: "AAPL", side: "SELL" as const };
    const trades = [trade(1, "o1", "t1"), trade(2, "m2", "o1"), trade(1, "o1", "t1"), trade(3, "m3", "t3")];
    expect(fillsOf(order, trades)).toEqual([
      {
        tradeId: "AAPL-1",
        orderId: "o1",
        symbol: "AAPL",
        side: "SELL",
        price: "100.5",
        quantity: "1",
        liquidity: "MAKER",
        executedAt: "2025-06-02T14:00:01.000Z",
      },
      expect.objectContaining({ tradeId: "AAPL-2", liquidity: "TAKER", executedAt: "2025-06-02T14:00:02.000Z" }),
    ]);
  });
});
