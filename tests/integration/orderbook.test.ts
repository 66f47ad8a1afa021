// The engine's rules, one by one, against a real redis-server.
import { bookKeys, type CommandResult, type EngineCommandInput, MatchingEngine } from "@tradeflow/common/orderbook";
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
    expect(await cancel("nope")).toMatchObject({ status: "REJECTED", reason: "UNKNOWN_ORDER" });
    await limit("s1", "SELL", "100", "5");
    expect(await cancel("s1", "mallory")).toMatchObject({ status: "REJECTED", reason: "NOT_ORDER_OWNER" });
    expect((await engine.depth("AAPL")).asks[0]?.quantity).toBe("5");
    await market("m1", "BUY", "5");
    expect(await cancel("s1")).toMatchObject({ status: "REJECTED", reason: "ORDER_NOT_OPEN", filledQuantity: "5" });
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
    expect(result).toMatchObject({ status: "REJECTED", reason, trades: [] });
    expect(result.message).toEqual(expect.any(String));
    expect(await redis.dbsize()).toBe(0);
  });

  test.each([null, 42, "LIMIT", [], {}])("not an object: %p", async (input) => {
    expect(await engine.execute(input)).toMatchObject({ status: "REJECTED", reason: "INVALID_COMMAND" });
    expect(await redis.dbsize()).toBe(0);
  });
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
