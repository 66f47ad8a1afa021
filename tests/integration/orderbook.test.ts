// The engine's rules, one by one, against a real redis-server.
import { divideRounded, formatScaled } from "@tradeflow/common/decimal";
import { instrumentRegistry } from "@tradeflow/common/instruments";
import {
  bookKeys,
  type CommandResult,
  type EngineCommandInput,
  MatchingEngine,
  type OrderState,
} from "@tradeflow/common/orderbook";
import type { Redis } from "ioredis";
import { checkInvariants, connect, engineOn, instruments } from "../support/book-fixture";

let redis: Redis;
let engine: MatchingEngine;
const trades: CommandResult["trades"][number][] = [];
const ids = new Set<string>();

beforeAll(() => {
  redis = connect(1);
  engine = engineOn(redis);
});
afterAll(() => redis.quit());
beforeEach(async () => {
  await redis.flushdb();
  trades.length = 0;
  ids.clear();
});
afterEach(() => checkInvariants(engine, "AAPL", ids, trades));

async function run(command: EngineCommandInput): Promise<CommandResult> {
  const result = await engine.execute(command);
  if (!result.replayed) trades.push(...result.trades);
  ids.add(command.orderId);
  return result;
}

const limit = (
  orderId: string,
  side: "BUY" | "SELL",
  price: string,
  quantity: string,
  extra: Partial<EngineCommandInput> = {},
) =>
  run({
    type: "LIMIT",
    orderId,
    clientId: "alice",
    symbol: "AAPL",
    side,
    price,
    quantity,
    ...extra,
  } as EngineCommandInput);
const market = (orderId: string, side: "BUY" | "SELL", quantity: string) =>
  run({ type: "MARKET", orderId, clientId: "bob", symbol: "AAPL", side, quantity });
const cancel = (orderId: string, clientId = "alice") =>
  run({ type: "CANCEL", commandId: `cancel-${orderId}-${clientId}`, orderId, clientId, symbol: "AAPL" });

const tradeView = (r: CommandResult) => r.trades.map((t) => [t.makerOrderId, t.price, t.quantity]);

describe("price-time priority", () => {
  test("a crossing order sweeps levels best first, earlier orders first, at the maker's price", async () => {
    await limit("s1", "SELL", "101", "5");
    await limit("s2", "SELL", "100", "5");
    await limit("s3", "SELL", "100", "5");
    const buy = await limit("b1", "BUY", "102", "12", { clientId: "bob" });
    expect(tradeView(buy)).toEqual([
      ["s2", "100", "5"],
      ["s3", "100", "5"],
      ["s1", "101", "2"],
    ]);
    expect(buy).toMatchObject({
      status: "FILLED",
      filledQuantity: "12",
      remainingQuantity: "0",
      averagePrice: "100.166667",
    });
    expect(buy.trades.map((t) => [t.tradeId, t.sequence, t.aggressorSide, t.takerClientId])).toEqual([
      ["AAPL-1", 1, "BUY", "bob"],
      ["AAPL-2", 2, "BUY", "bob"],
      ["AAPL-3", 3, "BUY", "bob"],
    ]);
    expect(buy.trades[2]!.makerRemainingQuantity).toBe("3");
    expect(await engine.getOrder("AAPL", "s1")).toMatchObject({ status: "PARTIALLY_FILLED", remainingQuantity: "3" });
  });

  test("a GTC remainder rests at its limit; the book shows it with cumulative depth", async () => {
    await limit("s1", "SELL", "100", "4");
    const buy = await limit("b1", "BUY", "100.5", "10");
    expect(buy).toMatchObject({ status: "PARTIALLY_FILLED", filledQuantity: "4", remainingQuantity: "6" });
    await limit("b2", "BUY", "99", "3");
    const book = await engine.depth("AAPL", 5);
    expect(book.bids).toEqual([
      { price: "100.5", quantity: "6", orders: 1, cumulativeQuantity: "6" },
      { price: "99", quantity: "3", orders: 1, cumulativeQuantity: "9" },
    ]);
    expect(book.asks).toEqual([]);
    expect(book.lastTradePrice).toBe("100");
    const top = await engine.topOfBook("AAPL");
    expect(top).toEqual({ symbol: "AAPL", bid: book.bids[0], ask: null, lastTradePrice: "100" });
  });

  test("a non-crossing order rests without trading", async () => {
    await limit("s1", "SELL", "101", "1");
    expect(await limit("b1", "BUY", "100.99", "1")).toMatchObject({ status: "NEW", trades: [] });
  });
});

describe("time in force", () => {
  test("IOC fills what crosses and cancels the rest", async () => {
    await limit("s1", "SELL", "100", "3");
    const ioc = await limit("b1", "BUY", "100", "5", { timeInForce: "IOC" });
    expect(ioc).toMatchObject({
      status: "CANCELLED",
      filledQuantity: "3",
      cancelledQuantity: "2",
      remainingQuantity: "0",
    });
    expect((await engine.depth("AAPL")).bids).toEqual([]);
  });

  test("FOK fills completely or not at all", async () => {
    await limit("s1", "SELL", "100", "3");
    await limit("s2", "SELL", "101", "3");
    const refused = await limit("b1", "BUY", "100", "5", { timeInForce: "FOK" });
    expect(refused).toMatchObject({ status: "REJECTED", reason: "FOK_NOT_FILLABLE", trades: [] });
    expect((await engine.depth("AAPL")).asks.map((l) => l.quantity)).toEqual(["3", "3"]);
    const filled = await limit("b2", "BUY", "101", "5", { timeInForce: "FOK" });
    expect(filled).toMatchObject({ status: "FILLED", filledQuantity: "5" });
  });

  test("post-only that would cross is rejected; one that would not rests", async () => {
    await limit("s1", "SELL", "100", "3");
    expect(await limit("b1", "BUY", "100", "1", { postOnly: true })).toMatchObject({
      status: "REJECTED",
      reason: "POST_ONLY_WOULD_CROSS",
    });
    expect(await limit("b2", "BUY", "99.99", "1", { postOnly: true })).toMatchObject({ status: "NEW" });
  });

  test("MARKET on an empty book cancels; on a thin book fills what it can; never rests", async () => {
    expect(await market("m1", "BUY", "5")).toMatchObject({
      status: "CANCELLED",
      filledQuantity: "0",
      cancelledQuantity: "5",
    });
    await limit("s1", "SELL", "100", "2");
    await limit("s2", "SELL", "250", "1");
    const m = await market("m2", "BUY", "5");
    expect(m).toMatchObject({ status: "CANCELLED", filledQuantity: "3", cancelledQuantity: "2", averagePrice: "150" });
    expect(await engine.depth("AAPL")).toMatchObject({ bids: [], asks: [] });
  });
});

describe("cancel", () => {
  test("the owner cancels the resting remainder", async () => {
    await limit("s1", "SELL", "100", "5");
    await market("m1", "BUY", "2");
    const c = await cancel("s1");
    expect(c).toMatchObject({
      status: "CANCELLED",
      filledQuantity: "2",
      cancelledQuantity: "3",
      remainingQuantity: "0",
    });
    expect((await engine.depth("AAPL")).asks).toEqual([]);
  });

  test("unknown order, another client's order, and a filled order are rejected and change nothing", async () => {
    expect(await cancel("nope")).toMatchObject({ status: "REJECTED", reason: "UNKNOWN_ORDER", order: null });
    await limit("s1", "SELL", "100", "5");
    await market("m1", "BUY", "2");
    const before = await engine.getOrder("AAPL", "s1");
    // Another client learns nothing about the order: no side, no sizes, no state.
    expect(await cancel("s1", "mallory")).toEqual({
      commandType: "CANCEL",
      orderId: "s1",
      clientId: "mallory",
      symbol: "AAPL",
      side: null,
      status: "REJECTED",
      reason: "NOT_ORDER_OWNER",
      message: "only the client that placed an order may cancel it",
      quantity: "0",
      filledQuantity: "0",
      remainingQuantity: "0",
      cancelledQuantity: "0",
      averagePrice: null,
      trades: [],
      order: null,
      makers: [],
      version: 4,
      replayed: false,
    });
    expect(await engine.getOrder("AAPL", "s1")).toEqual(before);
    await market("m2", "BUY", "3");
    expect(await cancel("s1")).toMatchObject({
      status: "REJECTED",
      reason: "ORDER_NOT_OPEN",
      filledQuantity: "5",
      order: null,
      version: 6,
    });
  });
});

describe("idempotency", () => {
  test("re-submitting a processed command returns the original result and changes nothing", async () => {
    await limit("s1", "SELL", "100", "5");
    const first = await limit("b1", "BUY", "100", "3");
    const before = await redis.dump(bookKeys("AAPL")[6]!);
    const again = await limit("b1", "BUY", "100", "3");
    expect(again).toEqual({ ...first, replayed: true });
    expect(await redis.dump(bookKeys("AAPL")[6]!)).toEqual(before);
    const c1 = await cancel("s1");
    expect(await cancel("s1")).toEqual({ ...c1, replayed: true });
  });

  test("a rejected cancel is remembered too: replaying it after the order arrives changes nothing", async () => {
    const early = await cancel("late");
    expect(early).toMatchObject({ status: "REJECTED", reason: "UNKNOWN_ORDER" });
    await limit("late", "BUY", "99", "2");
    expect(await cancel("late")).toEqual({ ...early, replayed: true });
    expect((await engine.depth("AAPL")).bids[0]?.quantity).toBe("2");
    const reused = await run({
      type: "CANCEL",
      commandId: "cancel-late-alice",
      orderId: "other",
      clientId: "alice",
      symbol: "AAPL",
    });
    expect(reused).toMatchObject({ status: "REJECTED", reason: "DUPLICATE_COMMAND_ID" });
  });

  test("the same order id with different content is rejected, not merged", async () => {
    await limit("b1", "BUY", "100", "3");
    const other = await limit("b1", "BUY", "100", "4");
    expect(other).toMatchObject({ status: "REJECTED", reason: "DUPLICATE_ORDER_ID" });
    expect((await engine.depth("AAPL")).bids).toEqual([
      { price: "100", quantity: "3", orders: 1, cumulativeQuantity: "3" },
    ]);
  });

  test("processed ids expire after the configured TTL (at most twice it)", async () => {
    const short = engineOn(redis, 1);
    const cmd = {
      type: "LIMIT",
      orderId: "t1",
      clientId: "alice",
      symbol: "AAPL",
      side: "SELL",
      price: "100",
      quantity: "1",
      timeInForce: "IOC",
    } as const;
    expect((await short.execute(cmd)).replayed).toBe(false);
    expect((await short.execute(cmd)).replayed).toBe(true);
    await new Promise((r) => setTimeout(r, 2100));
    await short.execute({ ...cmd, orderId: "t2" }); // rotates once
    await new Promise((r) => setTimeout(r, 1100));
    await short.execute({ ...cmd, orderId: "t3" }); // rotates again: t1's generation is dropped
    expect((await short.execute(cmd)).replayed).toBe(false);
  });
});

describe("bad input is rejected with a reason and leaves the book untouched", () => {
  const base = {
    type: "LIMIT",
    orderId: "x1",
    clientId: "alice",
    symbol: "AAPL",
    side: "BUY",
    price: "100",
    quantity: "1",
  };
  const cases: [string, Record<string, unknown>, string][] = [
    ["unknown symbol", { symbol: "NOPE" }, "UNKNOWN_SYMBOL"],
    ["zero quantity", { quantity: "0" }, "INVALID_QUANTITY"],
    ["negative quantity", { quantity: "-1" }, "INVALID_QUANTITY"],
    ["NaN price", { price: "NaN" }, "INVALID_PRICE"],
    ["exponent price", { price: "1e309" }, "INVALID_PRICE"],
    ["negative zero price", { price: "-0" }, "INVALID_PRICE"],
    ["hex price", { price: "0x10" }, "INVALID_PRICE"],
    ["price as a number", { price: 100 }, "INVALID_COMMAND"],
    ["absurd quantity", { quantity: "1000000000000000000000" }, "QUANTITY_TOO_LARGE"],
    ["quantity above the instrument maximum", { quantity: "100001" }, "QUANTITY_TOO_LARGE"],
    ["absurd price", { price: "99999999999999999999.99" }, "PRICE_TOO_LARGE"],
    ["too many decimals", { price: "100.001" }, "PRICE_OFF_TICK"],
    ["fractional lot", { quantity: "1.5" }, "QUANTITY_OFF_LOT"],
    ["missing field", { side: undefined }, "INVALID_COMMAND"],
    ["extra field", { colour: "red" }, "INVALID_COMMAND"],
    ["unknown type", { type: "STOP" }, "INVALID_COMMAND"],
    ["unknown side", { side: "HOLD" }, "INVALID_COMMAND"],
    ["empty id", { orderId: "" }, "INVALID_COMMAND"],
    ["too long id", { orderId: "x".repeat(65) }, "INVALID_COMMAND"],
    ["control characters in id", { orderId: "a\nb" }, "INVALID_COMMAND"],
  ];
  test.each(cases)("%s", async (_name, change, reason) => {
    const result = await engine.execute({ ...base, ...change });
    expect(result).toMatchObject({ status: "REJECTED", reason, trades: [], order: null, makers: [], version: null });
    expect(result.message).toEqual(expect.any(String));
    expect(await redis.dbsize()).toBe(0);
  });

  test.each([null, 42, "LIMIT", [], {}])("not an object: %p", async (input) => {
    expect(await engine.execute(input)).toMatchObject({ status: "REJECTED", reason: "INVALID_COMMAND" });
    expect(await redis.dbsize()).toBe(0);
  });
});

describe("the engine reports every order's state after a command", () => {
  const at = (timestamp: number) => ({ timestamp });
  const state = (orderId: string, fields: Partial<OrderState>): OrderState => ({
    orderId,
    clientId: "alice",
    symbol: "AAPL",
    side: "SELL",
    orderType: "LIMIT",
    price: "100",
    status: "NEW",
    quantity: "5",
    filledQuantity: "0",
    remainingQuantity: "5",
    cancelledQuantity: "0",
    averagePrice: null,
    lastTradeId: null,
    version: 1,
    submittedAt: 1000,
    ...fields,
  });

  test("the submitted order, every maker it filled, and a cancel's target, each with its version", async () => {
    const s1 = await limit("s1", "SELL", "100", "5", at(1000));
    expect(s1).toMatchObject({ version: 1, makers: [], order: state("s1", {}) });
    await limit("s2", "SELL", "101", "5", at(2000));
    const b1 = await limit("b1", "BUY", "101", "7", { ...at(3000), clientId: "bob" });
    expect(b1.version).toBe(3);
    expect(b1.makers).toEqual([
      state("s1", {
        status: "FILLED",
        filledQuantity: "5",
        remainingQuantity: "0",
        averagePrice: "100",
        lastTradeId: "AAPL-1",
        version: 3,
      }),
      state("s2", {
        price: "101",
        status: "PARTIALLY_FILLED",
        filledQuantity: "2",
        remainingQuantity: "3",
        averagePrice: "101",
        lastTradeId: "AAPL-2",
        version: 3,
        submittedAt: 2000,
      }),
    ]);
    expect(b1.order).toEqual(
      state("b1", {
        clientId: "bob",
        side: "BUY",
        price: "101",
        status: "FILLED",
        quantity: "7",
        filledQuantity: "7",
        remainingQuantity: "0",
        averagePrice: "100.285714",
        lastTradeId: "AAPL-2",
        version: 3,
        submittedAt: 3000,
      }),
    );
    expect(b1.averagePrice).toBe(b1.order?.averagePrice);
    const c = await run({ type: "CANCEL", commandId: "c1", orderId: "s2", clientId: "alice", symbol: "AAPL" });
    expect(c).toMatchObject({ version: 4, averagePrice: "101", makers: [] });
    expect(c.order).toEqual({
      ...b1.makers[1],
      status: "CANCELLED",
      remainingQuantity: "0",
      cancelledQuantity: "3",
      version: 4,
    });
    expect(await engine.getOrder("AAPL", "s2")).toEqual(c.order);
    expect(await engine.getOrder("AAPL", "nope")).toBeNull();
  });

  test("an order's average price covers its fills as taker and as maker", async () => {
    await limit("s1", "SELL", "99", "4");
    const b1 = await limit("b1", "BUY", "100", "10");
    expect(b1.order).toMatchObject({ status: "PARTIALLY_FILLED", averagePrice: "99", lastTradeId: "AAPL-1" });
    const m = await market("m1", "SELL", "3");
    expect(m.makers).toEqual([
      {
        ...b1.order,
        filledQuantity: "7",
        remainingQuantity: "3",
        averagePrice: "99.428571",
        lastTradeId: "AAPL-2",
        version: 3,
      },
    ]);
    expect(m.order).toMatchObject({ orderType: "MARKET", price: null, status: "FILLED", averagePrice: "100" });
  });

  test("rejections decided in the book get a version and no order; versions count every executed command", async () => {
    await limit("s1", "SELL", "100", "3");
    const refused = await limit("b1", "BUY", "100", "1", { postOnly: true });
    expect(refused).toMatchObject({ reason: "POST_ONLY_WOULD_CROSS", version: 2, order: null, makers: [] });
    expect(await cancel("nope")).toMatchObject({ reason: "UNKNOWN_ORDER", version: 3 });
    expect(await limit("b1", "BUY", "100", "2")).toMatchObject({ reason: "DUPLICATE_ORDER_ID", version: null });
    expect(await limit("b2", "BUY", "99", "1")).toMatchObject({ status: "NEW", version: 4 });
    expect(await limit("b1", "BUY", "100", "1", { postOnly: true })).toEqual({ ...refused, replayed: true });
  });
});

describe("price band and market notional, against the engine's own last trade price", () => {
  /** A trade at `price` leaves the book empty and the last trade price at `price`. */
  const tradeAt = async (price: string) => {
    await limit(`ask-${price}`, "SELL", price, "1");
    await limit(`bid-${price}`, "BUY", price, "1");
  };

  test("with no trade yet there is no band", async () => {
    expect(await limit("far", "SELL", "1000", "1")).toMatchObject({ status: "NEW" });
    expect(await market("m1", "BUY", "100000")).toMatchObject({ status: "CANCELLED", filledQuantity: "1" });
  });

  test("the band is inclusive: at its edges a limit is accepted, one tick outside it is rejected", async () => {
    await tradeAt("100");
    expect(await limit("lo", "BUY", "95", "1")).toMatchObject({ status: "NEW" });
    expect(await limit("hi", "SELL", "105", "1")).toMatchObject({ status: "NEW" });
    const below = await limit("below", "BUY", "94.99", "1");
    expect(below).toMatchObject({
      status: "REJECTED",
      reason: "PRICE_OUTSIDE_BAND",
      message: "the price is outside the band 95..105, 500 bps around the last trade price 100",
      quantity: "1",
      remainingQuantity: "0",
      order: null,
      version: 5,
    });
    expect(await limit("above", "SELL", "105.01", "1")).toMatchObject({ reason: "PRICE_OUTSIDE_BAND" });
    // Checked before matching: a sell below the band is refused even though it would cross the bid at 95.
    expect(await limit("cross", "SELL", "94.99", "1")).toMatchObject({ reason: "PRICE_OUTSIDE_BAND", trades: [] });
    const book = await engine.depth("AAPL");
    expect([book.bids.map((l) => l.price), book.asks.map((l) => l.price)]).toEqual([["95"], ["105"]]);
  });

  test("an edge between ticks: last 100.01 gives 95.0095..105.0105", async () => {
    await tradeAt("100.01");
    expect(await limit("lo-in", "BUY", "95.01", "1")).toMatchObject({ status: "NEW" });
    expect(await limit("lo-out", "BUY", "95", "1")).toMatchObject({
      reason: "PRICE_OUTSIDE_BAND",
      message: "the price is outside the band 95.0095..105.0105, 500 bps around the last trade price 100.01",
    });
    expect(await limit("hi-in", "SELL", "105.01", "1")).toMatchObject({ status: "NEW" });
    expect(await limit("hi-out", "SELL", "105.02", "1")).toMatchObject({ reason: "PRICE_OUTSIDE_BAND" });
  });

  test("a redelivered limit is decided as the first time, wherever the last price has moved since", async () => {
    await tradeAt("100");
    const inBand = await limit("in", "BUY", "96", "1");
    const outOfBand = await limit("out", "BUY", "106", "1", { timeInForce: "IOC" });
    expect([inBand.status, outOfBand.reason]).toEqual(["NEW", "PRICE_OUTSIDE_BAND"]);
    await tradeAt("104");
    await tradeAt("104.5"); // the band is now 99.275..109.725: 96 is outside it, 106 inside
    expect(await limit("fresh", "BUY", "96", "1")).toMatchObject({ reason: "PRICE_OUTSIDE_BAND" });
    expect(await limit("in", "BUY", "96", "1")).toEqual({ ...inBand, replayed: true });
    expect(await limit("out", "BUY", "106", "1", { timeInForce: "IOC" })).toEqual({ ...outOfBand, replayed: true });
  });

  test("a market order's notional at the last trade price may not exceed the maximum (10 000 000 for AAPL)", async () => {
    await tradeAt("100");
    expect(await market("at-max", "BUY", "100000")).toMatchObject({ status: "CANCELLED", cancelledQuantity: "100000" });
    await tradeAt("100.01");
    expect(await market("over", "BUY", "100000")).toMatchObject({
      status: "REJECTED",
      reason: "NOTIONAL_TOO_LARGE",
      message: "the market order's notional at the last trade price 100.01 is 10001000, above the maximum 10000000",
      order: null,
    });
    expect(await market("under", "BUY", "99990")).toMatchObject({ status: "CANCELLED" });
  });
});

describe("order ids are unique across symbols", () => {
  test("the same id on a second symbol is rejected; the first order is untouched and still replays", async () => {
    const first = await limit("g1", "BUY", "99", "2");
    const other = await engine.execute({
      type: "LIMIT",
      orderId: "g1",
      clientId: "alice",
      symbol: "BTC-USD",
      side: "BUY",
      price: "65000",
      quantity: "0.5",
    });
    expect(other).toMatchObject({
      status: "REJECTED",
      reason: "DUPLICATE_ORDER_ID",
      message: "this order id is already used on another symbol",
      version: null,
      order: null,
    });
    expect(await engine.getOrder("BTC-USD", "g1")).toBeNull();
    expect(await engine.depth("BTC-USD")).toMatchObject({ bids: [], asks: [] });
    expect(await engine.getOrder("AAPL", "g1")).toEqual(first.order);
    expect(await limit("g1", "BUY", "99", "2")).toEqual({ ...first, replayed: true });
    // The claim lasts two idempotency windows, as long as the symbol's own record of the id at most.
    expect(await redis.ttl("tf:oid:{g1}")).toBeGreaterThan(86_400);
  });
});

test("notionals and bands stay exact far beyond 2^53", async () => {
  const big = new MatchingEngine({
    redis,
    instruments: instrumentRegistry([
      {
        ...instruments.get("AAPL")!,
        symbol: "BIG",
        maxQuantity: "999999999999999",
        maxNotional: formatScaled(999_999_999_999_999n * 999_999_999_999_999n - 1n, 2),
        priceBandBps: 1,
      },
    ]),
  });
  const order = (orderId: string, side: "BUY" | "SELL", price: string, quantity: string) =>
    big.execute({ type: "LIMIT", orderId, clientId: "whale", symbol: "BIG", side, price, quantity });
  await order("a", "SELL", "9999999999999.98", "600000000000000");
  await order("b", "SELL", "9999999999999.99", "399999999999999");
  const taker = await order("t", "BUY", "9999999999999.99", "999999999999999");
  const notional = 999_999_999_999_998n * 600_000_000_000_000n + 999_999_999_999_999n * 399_999_999_999_999n;
  expect(taker.order).toMatchObject({
    status: "FILLED",
    averagePrice: divideRounded(notional, 999_999_999_999_999n * 100n, 6),
  });
  expect(taker.makers.map((m) => m.averagePrice)).toEqual(["9999999999999.98", "9999999999999.99"]);
  // last = 999 999 999 999 999 ticks; 1 bp below it is 999 899 999 999 999.9001 ticks.
  expect(await order("in", "BUY", "9999000000000", "1")).toMatchObject({ status: "NEW" });
  expect(await order("out", "BUY", "9998999999999.99", "1")).toMatchObject({ reason: "PRICE_OUTSIDE_BAND" });
  const market = (orderId: string, quantity: string) =>
    big.execute({ type: "MARKET", orderId, clientId: "whale", symbol: "BIG", side: "BUY", quantity });
  expect(await market("m-over", "999999999999999")).toMatchObject({ reason: "NOTIONAL_TOO_LARGE" });
  expect(await market("m-under", "999999999999998")).toMatchObject({ status: "CANCELLED" });
});

test("instruments with fractional lots keep exact sizes", async () => {
  const btc = { clientId: "alice", symbol: "BTC-USD" } as const;
  await engine.execute({ type: "LIMIT", orderId: "a", side: "SELL", price: "65000.01", quantity: "0.3", ...btc });
  const r = await engine.execute({
    type: "LIMIT",
    orderId: "b",
    side: "BUY",
    price: "65000.01",
    quantity: "0.1001",
    ...btc,
  });
  expect(r).toMatchObject({ status: "FILLED", filledQuantity: "0.1001", averagePrice: "65000.01" });
  expect((await engine.depth("BTC-USD")).asks[0]).toMatchObject({ price: "65000.01", quantity: "0.1999" });
  expect(instruments.get("BTC-USD")?.lotSize).toBe("0.0001");
});

test("an unreachable Redis raises the retryable MatcherUnavailableError", async () => {
  const { Redis: Client } = await import("ioredis");
  const dead = new Client({ port: 1, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  const offline = new MatchingEngine({ redis: dead, instruments });
  await expect(
    offline.execute({ type: "CANCEL", commandId: "c", orderId: "a", clientId: "b", symbol: "AAPL" }),
  ).rejects.toMatchObject({ name: "MatcherUnavailableError" });
  dead.disconnect();
});
