// The engine's rules, one by one, against a real redis-server.
import { divideRounded, formatScaled } from "@tradeflow/common/decimal";
import { instrumentRegistry, type StpMode } from "@tradeflow/common/instruments";
import {
  type BookLevel,
  bookKeys,
  type CommandResult,
  type EngineCommandInput,
  MatchingEngine,
  type OrderState,
  type RejectReason,
  type Trade,
} from "@tradeflow/common/orderbook";
import type { Redis } from "ioredis";
import { checkInvariants, connect, engineOn, instruments } from "../support/book-fixture";
import { REDIS_DB } from "../support/redis-db";

/** The engine's clock: commands without a timestamp are stamped with it, so states and trades compare exactly. */
const NOW = 1_795_000_000_000;

let redis: Redis;
let engine: MatchingEngine;
const trades: Trade[] = [];
const ids = new Set<string>();

beforeAll(() => {
  redis = connect(REDIS_DB.orderbook);
  engine = new MatchingEngine({ redis, instruments, now: () => NOW });
});
afterAll(() => redis.quit());
beforeEach(async () => {
  await redis.flushdb();
  trades.length = 0;
  ids.clear();
});
afterEach(() => checkInvariants(engine, "AAPL", ids, trades));

type Side = "BUY" | "SELL";
type LimitInput = Extract<EngineCommandInput, { type: "LIMIT" }>;
type AmendChange = Pick<Extract<EngineCommandInput, { type: "AMEND" }>, "price" | "quantity">;

async function run(command: EngineCommandInput): Promise<CommandResult> {
  const result = await engine.execute(command);
  if (!result.replayed) trades.push(...result.trades);
  if ("orderId" in command) ids.add(command.orderId);
  return result;
}

/** A limit order of alice's on AAPL unless `extra` says otherwise. */
const limit = (orderId: string, side: Side, price: string, quantity: string, extra: Partial<LimitInput> = {}) =>
  run({ type: "LIMIT", orderId, clientId: "alice", symbol: "AAPL", side, price, quantity, ...extra });
const market = (orderId: string, side: Side, quantity: string, clientId = "carol") =>
  run({ type: "MARKET", orderId, clientId, symbol: "AAPL", side, quantity });
const cancel = (orderId: string, clientId = "alice") =>
  run({ type: "CANCEL", commandId: `cancel-${orderId}-${clientId}`, orderId, clientId, symbol: "AAPL" });
const amend = (commandId: string, orderId: string, change: AmendChange, clientId = "alice") =>
  run({ type: "AMEND", commandId, orderId, clientId, symbol: "AAPL", ...change });
/** A mass cancel of the client's orders on `symbol`, or on every symbol without one. */
const cancelAll = (commandId: string, symbol?: string, clientId = "alice") =>
  run({ type: "CANCEL_ALL", commandId, clientId, ...(symbol ? { symbol } : {}) });

/** A trade at `price` by two clients leaves the book empty and the last trade price at `price`. */
const tradeAt = async (price: string) => {
  await limit(`ask-${price}`, "SELL", price, "1");
  await limit(`bid-${price}`, "BUY", price, "1", { clientId: "bob" });
};

const tradeView = (r: CommandResult) => r.trades.map((t) => [t.makerOrderId, t.price, t.quantity]);
const levels = (side: readonly BookLevel[]) => side.map((l) => [l.price, l.quantity, l.orders]);
/** The book's levels as [price, quantity, orders]. */
const book = async (symbol = "AAPL") => {
  const depth = await engine.depth(symbol);
  return { bids: levels(depth.bids), asks: levels(depth.asks) };
};
/** What a command that changes nothing leaves as it was: the whole depth and the named orders' states. */
const snapshot = async (...orderIds: string[]) => ({
  depth: await engine.depth("AAPL"),
  orders: await Promise.all(orderIds.map((id) => engine.getOrder("AAPL", id))),
});
/** Every state a result reports is the state the engine holds. */
const expectStored = async (r: CommandResult) => {
  for (const o of [r.order, ...r.affected]) {
    if (o) expect(await engine.getOrder(o.symbol, o.orderId)).toEqual(o);
  }
};

/** An order's whole state: by default alice's resting AAPL sell of 5 at 100, placed by the first command. */
const state = (orderId: string, fields: Partial<OrderState> = {}): OrderState => ({
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
  submittedAt: NOW,
  ...fields,
});

const UNCHANGED = {
  trades: [],
  order: null,
  affected: [],
  selfTradePreventions: [],
  openOrdersLeft: null,
  replayed: false,
} as const;

/** The result of a submit or amend that was carried out, leaving `order` as it is. */
const outcome = (
  commandType: "LIMIT" | "MARKET" | "AMEND",
  order: OrderState,
  extra: Partial<CommandResult> = {},
): CommandResult => ({
  ...UNCHANGED,
  commandType,
  orderId: order.orderId,
  clientId: order.clientId,
  symbol: order.symbol,
  side: order.side,
  status: order.status,
  reason: null,
  message: null,
  quantity: order.quantity,
  filledQuantity: order.filledQuantity,
  remainingQuantity: order.remainingQuantity,
  cancelledQuantity: order.cancelledQuantity,
  averagePrice: order.averagePrice,
  order,
  version: order.version,
  ...extra,
});

const MESSAGES: Partial<Record<RejectReason, string>> = {
  POST_ONLY_REQUIRES_GTC: "a post-only order must be able to rest: it cannot be IOC or FOK",
  POST_ONLY_WOULD_CROSS: "a post-only order may not take liquidity; it would have crossed the book",
  FOK_NOT_FILLABLE: "fill-or-kill: the book could not fill the whole quantity at the limit",
  UNKNOWN_ORDER: "no such order on this symbol (never seen, or past retention)",
  NOT_ORDER_OWNER: "only the client that placed an order may change or cancel it",
  ORDER_NOT_OPEN: "the order is already filled or cancelled",
  AMEND_QUANTITY_TOO_LOW:
    "an amended quantity must exceed what the order has filled and had cancelled; cancel it instead",
  DUPLICATE_COMMAND_ID: "this command id was already used for a different command",
};

type RefusalFields = Pick<CommandResult, "commandType" | "orderId" | "clientId" | "version"> & {
  reason: RejectReason;
} & Partial<CommandResult>;

/** A rejection: no sizes unless given (the command's own, or the caller's own order's), nothing changed. */
const refusal = (fields: RefusalFields): CommandResult => ({
  ...UNCHANGED,
  symbol: "AAPL",
  side: null,
  status: "REJECTED",
  message: MESSAGES[fields.reason] ?? null,
  quantity: "0",
  filledQuantity: "0",
  remainingQuantity: "0",
  cancelledQuantity: "0",
  averagePrice: null,
  ...fields,
});

/** A mass cancel's result: `affected` are the orders it cancelled. */
const massCancel = (
  fields: Pick<CommandResult, "symbol" | "affected" | "openOrdersLeft" | "version">,
  clientId = "alice",
): CommandResult => ({
  ...UNCHANGED,
  commandType: "CANCEL_ALL",
  orderId: null,
  clientId,
  side: null,
  status: "CANCELLED",
  reason: null,
  message: null,
  quantity: "0",
  filledQuantity: "0",
  remainingQuantity: "0",
  cancelledQuantity: "0",
  averagePrice: null,
  ...fields,
});

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
    const buy = await limit("b1", "BUY", "100.5", "10", { clientId: "bob" });
    expect(buy).toMatchObject({ status: "PARTIALLY_FILLED", filledQuantity: "4", remainingQuantity: "6" });
    await limit("b2", "BUY", "99", "3");
    const depth = await engine.depth("AAPL", 5);
    expect(depth.bids).toEqual([
      { price: "100.5", quantity: "6", orders: 1, cumulativeQuantity: "6" },
      { price: "99", quantity: "3", orders: 1, cumulativeQuantity: "9" },
    ]);
    expect(depth.asks).toEqual([]);
    expect(depth.lastTradePrice).toBe("100");
    const top = await engine.topOfBook("AAPL");
    expect(top).toEqual({ symbol: "AAPL", bid: depth.bids[0], ask: null, lastTradePrice: "100" });
  });

  test("a non-crossing order rests without trading", async () => {
    await limit("s1", "SELL", "101", "1");
    expect(await limit("b1", "BUY", "100.99", "1")).toMatchObject({ status: "NEW", trades: [] });
  });
});

describe("time in force", () => {
  test("IOC fills what crosses and cancels the rest", async () => {
    await limit("s1", "SELL", "100", "3");
    const ioc = await limit("b1", "BUY", "100", "5", { timeInForce: "IOC", clientId: "bob" });
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
    const refused = await limit("b1", "BUY", "100", "5", { timeInForce: "FOK", clientId: "bob" });
    expect(refused).toMatchObject({ status: "REJECTED", reason: "FOK_NOT_FILLABLE", trades: [] });
    expect((await engine.depth("AAPL")).asks.map((l) => l.quantity)).toEqual(["3", "3"]);
    const filled = await limit("b2", "BUY", "101", "5", { timeInForce: "FOK", clientId: "bob" });
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

  test.each(["IOC", "FOK"] as const)("post-only with %s is refused before the book", async (timeInForce) => {
    await limit("s1", "SELL", "100", "3");
    const before = await snapshot("s1", "p1");
    const refused = await limit("p1", "BUY", "99", "2", { postOnly: true, timeInForce, clientId: "bob" });
    expect(refused).toEqual(
      refusal({
        commandType: "LIMIT",
        orderId: "p1",
        clientId: "bob",
        side: "BUY",
        reason: "POST_ONLY_REQUIRES_GTC",
        quantity: "2",
        version: null,
      }),
    );
    expect(await snapshot("s1", "p1")).toEqual(before);
    expect(await redis.exists("tf:oid:{p1}")).toBe(0); // the order id was not even claimed
    // No command sequence was taken: the next command on AAPL is the second.
    expect(await limit("p1", "BUY", "99", "2", { postOnly: true, clientId: "bob" })).toMatchObject({
      status: "NEW",
      version: 2,
    });
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

describe("self-trade prevention: alice buys 100 at 100 against her own a1 and bob's b1, 5 each at 100", () => {
  type Sizes = [status: OrderState["status"], filled: string, remaining: string, cancelled: string];
  interface StpCase {
    name: string;
    /** Absent: the instrument's default (CANCEL_NEWEST for AAPL). */
    mode?: StpMode;
    /** a1 rests ahead of b1 (else behind it). */
    ownFirst: boolean;
    quantity: string;
    /** GTC unless given. */
    timeInForce?: "FOK";
    result: Sizes;
    /** [maker, quantity], all at 100. */
    trades: [string, string][];
    /** [resting order, cancelled from the incoming order, cancelled from the resting one]. */
    preventions: [string, string, string][];
    affected: [string, ...Sizes][];
    bids: (string | number)[][];
    asks: (string | number)[][];
  }
  const sizes = (o: OrderState | CommandResult) => [
    o.status,
    o.filledQuantity,
    o.remainingQuantity,
    o.cancelledQuantity,
  ];
  const cases: StpCase[] = [
    {
      name: "CANCEL_NEWEST, own order behind: fills b1, then cancels the incoming rest",
      mode: "CANCEL_NEWEST",
      ownFirst: false,
      quantity: "8",
      result: ["CANCELLED", "5", "0", "3"],
      trades: [["b1", "5"]],
      preventions: [["a1", "3", "0"]],
      affected: [["b1", "FILLED", "5", "0", "0"]],
      bids: [],
      asks: [["100", "5", 1]],
    },
    {
      name: "the instrument's default (CANCEL_NEWEST), own order ahead: the incoming order is cancelled whole",
      ownFirst: true,
      quantity: "8",
      result: ["CANCELLED", "0", "0", "8"],
      trades: [],
      preventions: [["a1", "8", "0"]],
      affected: [],
      bids: [],
      asks: [["100", "10", 2]],
    },
    {
      name: "CANCEL_OLDEST, own order ahead: cancels a1, fills b1, rests the rest",
      mode: "CANCEL_OLDEST",
      ownFirst: true,
      quantity: "8",
      result: ["PARTIALLY_FILLED", "5", "3", "0"],
      trades: [["b1", "5"]],
      preventions: [["a1", "0", "5"]],
      affected: [
        ["a1", "CANCELLED", "0", "0", "5"],
        ["b1", "FILLED", "5", "0", "0"],
      ],
      bids: [["100", "3", 1]],
      asks: [],
    },
    {
      name: "CANCEL_BOTH, own order behind: fills b1, then cancels a1 and the incoming rest",
      mode: "CANCEL_BOTH",
      ownFirst: false,
      quantity: "8",
      result: ["CANCELLED", "5", "0", "3"],
      trades: [["b1", "5"]],
      preventions: [["a1", "3", "5"]],
      affected: [
        ["b1", "FILLED", "5", "0", "0"],
        ["a1", "CANCELLED", "0", "0", "5"],
      ],
      bids: [],
      asks: [],
    },
    {
      name: "DECREMENT_AND_CANCEL, incoming larger: a1 is cancelled, the incoming goes on to b1 and rests",
      mode: "DECREMENT_AND_CANCEL",
      ownFirst: true,
      quantity: "12",
      result: ["PARTIALLY_FILLED", "5", "2", "5"],
      trades: [["b1", "5"]],
      preventions: [["a1", "5", "5"]],
      affected: [
        ["a1", "CANCELLED", "0", "0", "5"],
        ["b1", "FILLED", "5", "0", "0"],
      ],
      bids: [["100", "2", 1]],
      asks: [],
    },
    {
      name: "DECREMENT_AND_CANCEL, incoming smaller: a1 is decremented and stays; the incoming is cancelled",
      mode: "DECREMENT_AND_CANCEL",
      ownFirst: true,
      quantity: "3",
      result: ["CANCELLED", "0", "0", "3"],
      trades: [],
      preventions: [["a1", "3", "3"]],
      affected: [["a1", "NEW", "0", "2", "3"]],
      bids: [],
      asks: [["100", "7", 2]],
    },
    {
      name: "DECREMENT_AND_CANCEL, equal sizes: both are cancelled",
      mode: "DECREMENT_AND_CANCEL",
      ownFirst: true,
      quantity: "5",
      result: ["CANCELLED", "0", "0", "5"],
      trades: [],
      preventions: [["a1", "5", "5"]],
      affected: [["a1", "CANCELLED", "0", "0", "5"]],
      bids: [],
      asks: [["100", "5", 1]],
    },
    {
      name: "CANCEL_OLDEST, FOK that the others' orders fill: a1 is cancelled (fills count, not self-meetings)",
      mode: "CANCEL_OLDEST",
      ownFirst: true,
      quantity: "5",
      timeInForce: "FOK",
      result: ["FILLED", "5", "0", "0"],
      trades: [["b1", "5"]],
      preventions: [["a1", "0", "5"]],
      affected: [
        ["a1", "CANCELLED", "0", "0", "5"],
        ["b1", "FILLED", "5", "0", "0"],
      ],
      bids: [],
      asks: [],
    },
    {
      name: "NONE: alice trades with herself",
      mode: "NONE",
      ownFirst: true,
      quantity: "8",
      result: ["FILLED", "8", "0", "0"],
      trades: [
        ["a1", "5"],
        ["b1", "3"],
      ],
      preventions: [],
      affected: [
        ["a1", "FILLED", "5", "0", "0"],
        ["b1", "PARTIALLY_FILLED", "3", "2", "0"],
      ],
      bids: [],
      asks: [["100", "2", 1]],
    },
  ];

  /** a1 (alice) and b1 (bob), 5 at 100 each, in the given order: versions 1 and 2. */
  const restBoth = async (ownFirst: boolean) => {
    const a1 = () => limit("a1", "SELL", "100", "5");
    const b1 = () => limit("b1", "SELL", "100", "5", { clientId: "bob" });
    for (const place of ownFirst ? [a1, b1] : [b1, a1]) await place();
  };
  const mode = (selfTradePrevention?: StpMode) => (selfTradePrevention ? { selfTradePrevention } : {});

  test.each(cases)("$name", async (c) => {
    await restBoth(c.ownFirst);
    const before = await snapshot("a1", "b1");
    const r = await limit("in", "BUY", "100", c.quantity, { ...mode(c.mode), timeInForce: c.timeInForce ?? "GTC" });
    expect(r).toMatchObject({ commandType: "LIMIT", side: "BUY", reason: null, version: 3 });
    expect(sizes(r)).toEqual(c.result);
    expect(r.order && [...sizes(r.order), r.order.version]).toEqual([...c.result, 3]);
    expect(tradeView(r)).toEqual(c.trades.map(([maker, quantity]) => [maker, "100", quantity]));
    expect(r.selfTradePreventions).toEqual(
      c.preventions.map(([restingOrderId, incoming, resting]) => ({
        restingOrderId,
        mode: c.mode ?? "CANCEL_NEWEST",
        incomingCancelledQuantity: incoming,
        restingCancelledQuantity: resting,
      })),
    );
    expect(r.affected.map((o) => [o.orderId, ...sizes(o), o.version])).toEqual(c.affected.map((a) => [...a, 3]));
    await expectStored(r);
    // A resting order the command did not change keeps its state, version included.
    const unchanged = (orders: (OrderState | null)[]) =>
      orders.filter((o) => !r.affected.some((a) => a.orderId === o?.orderId));
    expect(unchanged((await snapshot("a1", "b1")).orders)).toEqual(unchanged(before.orders));
    expect(await book()).toEqual({ bids: c.bids, asks: c.asks });
  });

  test("a decremented resting order keeps its place in the queue", async () => {
    await restBoth(true);
    await limit("in", "BUY", "100", "3", mode("DECREMENT_AND_CANCEL"));
    expect(tradeView(await market("m1", "BUY", "3"))).toEqual([
      ["a1", "100", "2"],
      ["b1", "100", "1"],
    ]);
  });

  test("an amend counts what self-trade prevention cancelled: it rests the new total less filled and cancelled", async () => {
    await restBoth(true);
    await limit("in", "BUY", "100", "3", mode("DECREMENT_AND_CANCEL")); // a1: 3 of 5 cancelled, 2 rest
    expect(await amend("am1", "a1", { quantity: "3" })).toMatchObject({
      status: "REJECTED",
      reason: "AMEND_QUANTITY_TOO_LOW",
      cancelledQuantity: "3",
      version: 4,
    });
    const grown = { quantity: "9", remainingQuantity: "6", cancelledQuantity: "3", version: 5 };
    expect((await amend("am2", "a1", { quantity: "9" })).order).toEqual(state("a1", grown));
  });

  test.each(["CANCEL_NEWEST", "CANCEL_OLDEST", "CANCEL_BOTH", "DECREMENT_AND_CANCEL"] as const)(
    "FOK that would meet its own order under %s is not fillable and cancels nothing",
    async (stp) => {
      await restBoth(true);
      const before = await snapshot("a1", "b1", "fok");
      const r = await limit("fok", "BUY", "100", "8", { timeInForce: "FOK", ...mode(stp) });
      expect(r).toEqual(
        refusal({
          commandType: "LIMIT",
          orderId: "fok",
          clientId: "alice",
          side: "BUY",
          reason: "FOK_NOT_FILLABLE",
          quantity: "8",
          version: 3,
        }),
      );
      expect(await snapshot("a1", "b1", "fok")).toEqual(before);
    },
  );
});

describe("amend", () => {
  describe("time priority: a1 (alice) and b1 (bob) sell 5 at 100, c1 (bob) 5 at 101", () => {
    test.each([
      {
        name: "reducing the quantity keeps it",
        change: { quantity: "3" },
        fields: { quantity: "3", remainingQuantity: "3" },
        asks: [
          ["100", "8", 2],
          ["101", "5", 1],
        ],
        taker: "4",
        fills: [
          ["a1", "100", "3"],
          ["b1", "100", "1"],
        ],
      },
      {
        name: "increasing the quantity loses it",
        change: { quantity: "7" },
        fields: { quantity: "7", remainingQuantity: "7" },
        asks: [
          ["100", "12", 2],
          ["101", "5", 1],
        ],
        taker: "6",
        fills: [
          ["b1", "100", "5"],
          ["a1", "100", "1"],
        ],
      },
      {
        name: "a new price loses it: the order joins the back of its new level",
        change: { price: "101" },
        fields: { price: "101" },
        asks: [
          ["100", "5", 1],
          ["101", "10", 2],
        ],
        taker: "11",
        fills: [
          ["b1", "100", "5"],
          ["c1", "101", "5"],
          ["a1", "101", "1"],
        ],
      },
    ])("$name", async ({ change, fields, asks, taker, fills }) => {
      await limit("a1", "SELL", "100", "5");
      await limit("b1", "SELL", "100", "5", { clientId: "bob" });
      await limit("c1", "SELL", "101", "5", { clientId: "bob" });
      const amended = await amend("am1", "a1", change);
      expect(amended).toEqual(outcome("AMEND", state("a1", { ...fields, version: 4 })));
      await expectStored(amended);
      expect(await book()).toEqual({ bids: [], asks });
      expect(tradeView(await market("m1", "BUY", taker))).toEqual(fills);
    });
  });

  /** a1: alice bids 5 at 99; bob offers 2 at 100 and 5 at 101, carol 2 at 100.5 (versions 1-4). */
  const crossingBook = async () => {
    await limit("a1", "BUY", "99", "5");
    await limit("s1", "SELL", "100", "2", { clientId: "bob" });
    await limit("s2", "SELL", "100.5", "2", { clientId: "carol" });
    await limit("s3", "SELL", "101", "5", { clientId: "bob" });
  };
  const crossing = { price: "100.5", quantity: "6" };
  const filledAsk = (orderId: string, clientId: string, price: string, seq: number) =>
    state(orderId, {
      clientId,
      price,
      status: "FILLED",
      quantity: "2",
      filledQuantity: "2",
      remainingQuantity: "0",
      averagePrice: price,
      lastTradeId: `AAPL-${seq}`,
      version: 5,
    });
  const fill = (sequence: number, maker: OrderState): Trade => ({
    tradeId: `AAPL-${sequence}`,
    symbol: "AAPL",
    price: maker.price!,
    quantity: "2",
    makerOrderId: maker.orderId,
    makerClientId: maker.clientId,
    takerOrderId: "a1",
    takerClientId: "alice",
    aggressorSide: "BUY",
    sequence,
    timestamp: NOW,
    makerRemainingQuantity: "0",
  });

  test("a reprice across the spread trades as a new arrival and rests the rest", async () => {
    await crossingBook();
    const r = await amend("am1", "a1", crossing);
    const [s1, s2] = [filledAsk("s1", "bob", "100", 1), filledAsk("s2", "carol", "100.5", 2)];
    const a1 = state("a1", {
      side: "BUY",
      price: "100.5",
      status: "PARTIALLY_FILLED",
      quantity: "6",
      filledQuantity: "4",
      remainingQuantity: "2",
      averagePrice: "100.25",
      lastTradeId: "AAPL-2",
      version: 5,
    });
    expect(r).toEqual(outcome("AMEND", a1, { trades: [fill(1, s1), fill(2, s2)], affected: [s1, s2] }));
    await expectStored(r);
    expect(await book()).toEqual({ bids: [["100.5", "2", 1]], asks: [["101", "5", 1]] });
    expect((await engine.depth("AAPL")).lastTradePrice).toBe("100.5");
  });

  test("a repriced order that meets its own client's order applies its own stored self-trade prevention", async () => {
    await limit("a1", "BUY", "99", "5", { selfTradePrevention: "CANCEL_OLDEST" });
    await limit("s1", "SELL", "100", "2");
    await limit("s2", "SELL", "100", "2", { clientId: "bob" });
    const r = await amend("am1", "a1", { price: "100" });
    const sold = { quantity: "2", remainingQuantity: "0", version: 4 };
    const s1 = state("s1", { ...sold, status: "CANCELLED", cancelledQuantity: "2" });
    const s2 = state("s2", {
      ...sold,
      clientId: "bob",
      status: "FILLED",
      filledQuantity: "2",
      averagePrice: "100",
      lastTradeId: "AAPL-1",
    });
    const a1 = state("a1", {
      side: "BUY",
      price: "100",
      status: "PARTIALLY_FILLED",
      filledQuantity: "2",
      remainingQuantity: "3",
      averagePrice: "100",
      lastTradeId: "AAPL-1",
      version: 4,
    });
    const prevented = { restingOrderId: "s1", incomingCancelledQuantity: "0", restingCancelledQuantity: "2" };
    expect(r).toEqual(
      outcome("AMEND", a1, {
        trades: [fill(1, s2)],
        affected: [s1, s2],
        selfTradePreventions: [{ ...prevented, mode: "CANCEL_OLDEST" }],
      }),
    );
    expect(await book()).toEqual({ bids: [["100", "3", 1]], asks: [] });
  });

  test("a replayed amend returns its result again; its id with other content is refused", async () => {
    await crossingBook();
    const first = await amend("am1", "a1", crossing);
    const before = await snapshot("a1", "s1", "s2", "s3");
    expect(await amend("am1", "a1", crossing)).toEqual({ ...first, replayed: true });
    expect(await snapshot("a1", "s1", "s2", "s3")).toEqual(before);
    const duplicate = {
      commandType: "AMEND",
      orderId: "a1",
      clientId: "alice",
      reason: "DUPLICATE_COMMAND_ID",
    } as const;
    expect(await amend("am1", "a1", { ...crossing, quantity: "7" })).toEqual(
      refusal({ ...duplicate, quantity: "7", version: null }),
    );
    // Cancels, amends and mass cancels share the command ids of a symbol.
    const asCancel = await run({ type: "CANCEL", commandId: "am1", orderId: "a1", clientId: "alice", symbol: "AAPL" });
    expect(asCancel).toEqual(refusal({ ...duplicate, commandType: "CANCEL", version: null }));
    expect(await cancelAll("am1", "AAPL")).toEqual(
      refusal({ ...duplicate, commandType: "CANCEL_ALL", orderId: null, version: null }),
    );
    expect(await snapshot("a1", "s1", "s2", "s3")).toEqual(before);
  });

  test("a post-only order may not be repriced across the book", async () => {
    await limit("a1", "BUY", "99", "5", { postOnly: true });
    await limit("s1", "SELL", "100", "5", { clientId: "bob" });
    const before = await snapshot("a1", "s1");
    expect(await amend("am1", "a1", { price: "100" })).toEqual(
      refusal({
        commandType: "AMEND",
        orderId: "a1",
        clientId: "alice",
        side: "BUY",
        reason: "POST_ONLY_WOULD_CROSS",
        quantity: "5",
        version: 3,
      }),
    );
    expect(await snapshot("a1", "s1")).toEqual(before);
    expect((await amend("am2", "a1", { price: "99.99" })).order).toEqual(
      state("a1", { side: "BUY", price: "99.99", version: 4 }),
    );
  });

  test("the new total quantity must exceed what is filled", async () => {
    await limit("a1", "SELL", "100", "5");
    await market("m1", "BUY", "2");
    const before = await snapshot("a1");
    expect(await amend("am1", "a1", { quantity: "2" })).toEqual(
      refusal({
        commandType: "AMEND",
        orderId: "a1",
        clientId: "alice",
        side: "SELL",
        reason: "AMEND_QUANTITY_TOO_LOW",
        quantity: "5",
        filledQuantity: "2",
        version: 3,
      }),
    );
    expect(await snapshot("a1")).toEqual(before);
    // Down to 3 of which 2 are filled: changed in place, 1 still rests.
    const fields = {
      status: "PARTIALLY_FILLED",
      quantity: "3",
      filledQuantity: "2",
      remainingQuantity: "1",
      averagePrice: "100",
      lastTradeId: "AAPL-1",
      version: 4,
    } as const;
    expect(await amend("am2", "a1", { quantity: "3" })).toEqual(outcome("AMEND", state("a1", fields)));
  });

  test("a new price must be inside the band; an unchanged price is not checked again", async () => {
    await tradeAt("100");
    await limit("a1", "SELL", "104", "5");
    const before = await snapshot("a1");
    expect(await amend("am1", "a1", { price: "105.01" })).toEqual(
      refusal({
        commandType: "AMEND",
        orderId: "a1",
        clientId: "alice",
        side: "SELL",
        reason: "PRICE_OUTSIDE_BAND",
        message: "the price is outside the band 95..105, 500 bps around the last trade price 100",
        quantity: "5",
        version: 4,
      }),
    );
    expect(await snapshot("a1")).toEqual(before);
    expect((await amend("am2", "a1", { price: "105" })).order).toEqual(state("a1", { price: "105", version: 5 }));
    await tradeAt("99"); // the band is now 94.05..103.95: a1's 105 is outside it
    const reduced = { price: "105", quantity: "4", remainingQuantity: "4", version: 8 };
    expect(await amend("am3", "a1", { quantity: "4" })).toEqual(outcome("AMEND", state("a1", reduced)));
  });
});

describe("a cancel or amend that cannot act is refused, says nothing about another client's order, changes nothing", () => {
  const targets = [
    { target: "an order never seen", clientId: "alice", orderId: "nope", reason: "UNKNOWN_ORDER" },
    { target: "another client's live order", clientId: "mallory", orderId: "a1", reason: "NOT_ORDER_OWNER" },
    { target: "another client's filled order", clientId: "mallory", orderId: "f1", reason: "NOT_ORDER_OWNER" },
    {
      target: "the client's own filled order",
      clientId: "alice",
      orderId: "f1",
      reason: "ORDER_NOT_OPEN",
      own: { side: "SELL", quantity: "2", filledQuantity: "2" },
    },
  ] as const;
  const cases = (["CANCEL", "AMEND"] as const).flatMap((commandType) => targets.map((t) => ({ commandType, ...t })));

  test.each(cases)("$commandType of $target: $reason", async ({ commandType, clientId, orderId, reason, ...t }) => {
    await limit("f1", "SELL", "100", "2");
    await market("m1", "BUY", "2");
    await limit("a1", "SELL", "101", "5");
    const before = await snapshot("a1", "f1", "nope");
    const change = commandType === "AMEND" ? { price: "101.5" } : {};
    const r = await run({ type: commandType, commandId: "x1", orderId, clientId, symbol: "AAPL", ...change });
    expect(r).toEqual(refusal({ commandType, orderId, clientId, reason, version: 4, ...("own" in t ? t.own : {}) }));
    expect(await snapshot("a1", "f1", "nope")).toEqual(before);
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
});

describe("cancel all", () => {
  /** An order of alice's after a mass cancel cancelled all it had left: 5 at 100, none filled, unless `fields` say. */
  const cancelled = (orderId: string, version: number, fields: Partial<OrderState> = {}) => {
    const quantity = fields.quantity ?? "5";
    return state(orderId, {
      status: "CANCELLED",
      remainingQuantity: "0",
      cancelledQuantity: quantity,
      version,
      ...fields,
    });
  };
  const btc = (orderId: string, side: Side, price: string, clientId = "alice") =>
    run({ type: "LIMIT", orderId, clientId, symbol: "BTC-USD", side, price, quantity: "0.5" });
  const BID_PRICES = { AAPL: "99", "BTC-USD": "65000", "ETH-USD": "3000" } as const;
  /**
   * n bids of alice's, one unit each, ids <prefix>000 on, placed last id first. Returns the states a mass cancel
   * leaves those from..to-1 in.
   */
  const placeMany = async (symbol: keyof typeof BID_PRICES, prefix: string, n: number) => {
    const names = Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, "0")}`);
    const bid = { symbol, side: "BUY", price: BID_PRICES[symbol], quantity: "1" } as const;
    for (const orderId of names.toReversed()) await run({ type: "LIMIT", orderId, clientId: "alice", ...bid });
    return (from: number, to: number, version: number) =>
      names.slice(from, to).map((id) => cancelled(id, version, bid));
  };

  test("on one symbol: the client's live orders in order id order; others' orders untouched", async () => {
    await limit("a2", "SELL", "101", "5");
    await limit("a1", "BUY", "99", "3");
    await limit("b1", "SELL", "102", "4", { clientId: "bob" });
    await market("m1", "BUY", "2");
    await btc("btc1", "BUY", "65000");
    /** bob's order on AAPL and alice's on BTC-USD, which a mass cancel of alice's on AAPL leaves alone. */
    const others = () => Promise.all([engine.getOrder("AAPL", "b1"), engine.getOrder("BTC-USD", "btc1")]);
    const othersBefore = await others();
    const r = await cancelAll("ca1", "AAPL");
    expect(r).toEqual(
      massCancel({
        symbol: "AAPL",
        version: 5,
        openOrdersLeft: 0,
        affected: [
          cancelled("a1", 5, { side: "BUY", price: "99", quantity: "3" }),
          cancelled("a2", 5, {
            price: "101",
            filledQuantity: "2",
            cancelledQuantity: "3",
            averagePrice: "101",
            lastTradeId: "AAPL-1",
          }),
        ],
      }),
    );
    await expectStored(r);
    expect(await book()).toEqual({ bids: [], asks: [["102", "4", 1]] });
    expect(await cancelAll("ca1", "AAPL")).toEqual({ ...r, replayed: true });
    // Its id with another client or another scope (every symbol) is refused, and cancels nothing anywhere.
    const duplicate = {
      commandType: "CANCEL_ALL",
      orderId: null,
      reason: "DUPLICATE_COMMAND_ID",
      version: null,
    } as const;
    expect(await cancelAll("ca1", "AAPL", "bob")).toEqual(refusal({ ...duplicate, clientId: "bob" }));
    expect(await cancelAll("ca1")).toEqual(refusal({ ...duplicate, clientId: "alice", symbol: null }));
    expect(await others()).toEqual(othersBefore);
    // With nothing left to cancel it still runs, and says so.
    expect(await cancelAll("ca2", "AAPL")).toEqual(
      massCancel({ symbol: "AAPL", version: 6, openOrdersLeft: 0, affected: [] }),
    );
    expect(await book()).toEqual({ bids: [], asks: [["102", "4", 1]] });
  });

  test("on every symbol: each cancelled order carries its own symbol's version", async () => {
    await btc("btc1", "BUY", "65000");
    await btc("btc2", "SELL", "66000", "bob");
    await run({
      type: "LIMIT",
      orderId: "eth1",
      clientId: "alice",
      symbol: "ETH-USD",
      side: "BUY",
      price: "3000",
      quantity: "2",
    });
    await limit("a1", "SELL", "100", "5");
    await limit("b1", "BUY", "99", "1", { clientId: "bob" });
    await limit("a2", "BUY", "98", "1");
    const r = await cancelAll("ca1");
    expect(r).toEqual(
      massCancel({
        symbol: null,
        version: null,
        openOrdersLeft: 0,
        affected: [
          cancelled("btc1", 3, { symbol: "BTC-USD", side: "BUY", price: "65000", quantity: "0.5" }),
          cancelled("eth1", 2, { symbol: "ETH-USD", side: "BUY", price: "3000", quantity: "2" }),
          cancelled("a1", 4),
          cancelled("a2", 4, { side: "BUY", price: "98", quantity: "1" }),
        ],
      }),
    );
    await expectStored(r);
    expect(await cancelAll("ca1")).toEqual({ ...r, replayed: true });
    expect(await book("BTC-USD")).toEqual({ bids: [], asks: [["66000", "0.5", 1]] });
    expect(await book("ETH-USD")).toEqual({ bids: [], asks: [] });
    expect(await book()).toEqual({ bids: [["99", "1", 1]], asks: [] });
  });

  test("at most 100 orders per command: openOrdersLeft counts the rest, the next command takes them", async () => {
    const aapl = await placeMany("AAPL", "o", 105);
    await limit("b1", "SELL", "101", "1", { clientId: "bob" });
    const first = await cancelAll("cap1", "AAPL");
    expect(first).toEqual(massCancel({ symbol: "AAPL", version: 107, openOrdersLeft: 5, affected: aapl(0, 100, 107) }));
    expect(await book()).toEqual({ bids: [["99", "5", 5]], asks: [["101", "1", 1]] });
    expect(await cancelAll("cap1", "AAPL")).toEqual({ ...first, replayed: true });
    expect(await cancelAll("cap2", "AAPL")).toEqual(
      massCancel({ symbol: "AAPL", version: 108, openOrdersLeft: 0, affected: aapl(100, 105, 108) }),
    );
    expect(await book()).toEqual({ bids: [], asks: [["101", "1", 1]] });
  });

  test("on every symbol the 100 are one budget, spent in the registry's order; every symbol still runs", async () => {
    const btcOrders = await placeMany("BTC-USD", "b", 3);
    const eth = await placeMany("ETH-USD", "e", 99);
    const aapl = await placeMany("AAPL", "o", 5);
    // BTC-USD takes 3, ETH-USD the other 97, AAPL runs with none left (taking its version 6).
    expect(await cancelAll("cap1")).toEqual(
      massCancel({
        symbol: null,
        version: null,
        openOrdersLeft: 7,
        affected: [...btcOrders(0, 3, 4), ...eth(0, 97, 100)],
      }),
    );
    expect(await book()).toEqual({ bids: [["99", "5", 5]], asks: [] });
    expect(await cancelAll("cap2")).toEqual(
      massCancel({ symbol: null, version: null, openOrdersLeft: 0, affected: [...eth(97, 99, 101), ...aapl(0, 5, 7)] }),
    );
    expect(await book()).toEqual({ bids: [], asks: [] });
    expect(await book("ETH-USD")).toEqual({ bids: [], asks: [] });
  });
});

describe("idempotency", () => {
  test("re-submitting a processed command returns the original result and changes nothing", async () => {
    await limit("s1", "SELL", "100", "5");
    const first = await limit("b1", "BUY", "100", "3", { clientId: "bob" });
    // Every key of the symbol (the last of bookKeys is a command's result key).
    const dump = () =>
      Promise.all(
        bookKeys("AAPL")
          .slice(0, -1)
          .map((key) => redis.dump(key)),
      );
    const before = await dump();
    const again = await limit("b1", "BUY", "100", "3", { clientId: "bob" });
    expect(again).toEqual({ ...first, replayed: true });
    expect(await dump()).toEqual(before);
    expect(before.filter((bytes) => bytes !== null).length).toBeGreaterThan(0);
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
    // The resolved self-trade prevention mode is part of the order's content.
    const otherMode = await limit("b1", "BUY", "100", "3", { selfTradePrevention: "NONE" });
    expect(otherMode).toMatchObject({ status: "REJECTED", reason: "DUPLICATE_ORDER_ID" });
    expect(await limit("b1", "BUY", "100", "3", { selfTradePrevention: "CANCEL_NEWEST" })).toMatchObject({
      status: "NEW",
      replayed: true,
    });
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
  const expectRefusedOutright = async (input: unknown, reason: RejectReason) => {
    const result = await engine.execute(input);
    expect(result).toMatchObject({ ...UNCHANGED, status: "REJECTED", reason, version: null });
    expect(result.message).toEqual(expect.any(String));
    expect(await redis.dbsize()).toBe(0);
  };
  const cases: [string, Record<string, unknown>, RejectReason][] = [
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
    ["unknown self-trade prevention", { selfTradePrevention: "CANCEL_ALL" }, "INVALID_COMMAND"],
    ["empty id", { orderId: "" }, "INVALID_COMMAND"],
    ["too long id", { orderId: "x".repeat(65) }, "INVALID_COMMAND"],
    ["control characters in id", { orderId: "a\nb" }, "INVALID_COMMAND"],
  ];
  test.each(cases)("%s", (_name, change, reason) => expectRefusedOutright({ ...base, ...change }, reason));

  const amendment = { type: "AMEND", commandId: "c1", orderId: "x1", clientId: "alice", symbol: "AAPL" };
  test.each([
    ["an amend that changes nothing", amendment, "INVALID_COMMAND"],
    ["an amend to a price off the tick", { ...amendment, price: "100.001" }, "PRICE_OFF_TICK"],
    ["an amend to quantity zero", { ...amendment, quantity: "0" }, "INVALID_QUANTITY"],
    [
      "a mass cancel on an unknown symbol",
      { type: "CANCEL_ALL", commandId: "c1", clientId: "a", symbol: "NOPE" },
      "UNKNOWN_SYMBOL",
    ],
  ] as const)("%s", (_name, input, reason) => expectRefusedOutright(input, reason));

  test.each([null, 42, "LIMIT", [], {}])("not an object: %p", async (input) => {
    expect(await engine.execute(input)).toMatchObject({ status: "REJECTED", reason: "INVALID_COMMAND" });
    expect(await redis.dbsize()).toBe(0);
  });
});

describe("the engine reports every order's state after a command", () => {
  test("the submitted order, every maker it filled, and a cancel's target, each with its version", async () => {
    const s1 = await limit("s1", "SELL", "100", "5");
    expect(s1).toMatchObject({ version: 1, affected: [], order: state("s1") });
    await limit("s2", "SELL", "101", "5", { timestamp: 2000 });
    const b1 = await limit("b1", "BUY", "101", "7", { timestamp: 3000, clientId: "bob" });
    expect(b1.version).toBe(3);
    expect(b1.affected).toEqual([
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
    expect(b1.trades.map((t) => t.timestamp)).toEqual([3000, 3000]);
    expect(b1.averagePrice).toBe(b1.order?.averagePrice);
    const c = await run({ type: "CANCEL", commandId: "c1", orderId: "s2", clientId: "alice", symbol: "AAPL" });
    expect(c).toMatchObject({ version: 4, averagePrice: "101", affected: [] });
    expect(c.order).toEqual({
      ...b1.affected[1],
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
    const b1 = await limit("b1", "BUY", "100", "10", { clientId: "bob" });
    expect(b1.order).toMatchObject({ status: "PARTIALLY_FILLED", averagePrice: "99", lastTradeId: "AAPL-1" });
    const m = await market("m1", "SELL", "3");
    expect(m.affected).toEqual([
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
    expect(refused).toMatchObject({ reason: "POST_ONLY_WOULD_CROSS", version: 2, order: null, affected: [] });
    expect(await cancel("nope")).toMatchObject({ reason: "UNKNOWN_ORDER", version: 3 });
    expect(await limit("b1", "BUY", "100", "2")).toMatchObject({ reason: "DUPLICATE_ORDER_ID", version: null });
    expect(await limit("b2", "BUY", "99", "1")).toMatchObject({ status: "NEW", version: 4 });
    expect(await limit("b1", "BUY", "100", "1", { postOnly: true })).toEqual({ ...refused, replayed: true });
  });
});

describe("price band and market notional, against the engine's own last trade price", () => {
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
    const depth = await engine.depth("AAPL");
    expect([depth.bids.map((l) => l.price), depth.asks.map((l) => l.price)]).toEqual([["95"], ["105"]]);
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
  const order = (orderId: string, side: Side, price: string, quantity: string, clientId = "whale") =>
    big.execute({ type: "LIMIT", orderId, clientId, symbol: "BIG", side, price, quantity });
  await order("a", "SELL", "9999999999999.98", "600000000000000", "shark");
  await order("b", "SELL", "9999999999999.99", "399999999999999", "shark");
  const taker = await order("t", "BUY", "9999999999999.99", "999999999999999");
  const notional = 999_999_999_999_998n * 600_000_000_000_000n + 999_999_999_999_999n * 399_999_999_999_999n;
  expect(taker.order).toMatchObject({
    status: "FILLED",
    averagePrice: divideRounded(notional, 999_999_999_999_999n * 100n, 6),
  });
  expect(taker.affected.map((m) => m.averagePrice)).toEqual(["9999999999999.98", "9999999999999.99"]);
  // last = 999 999 999 999 999 ticks; 1 bp below it is 999 899 999 999 999.9001 ticks.
  expect(await order("in", "BUY", "9999000000000", "1")).toMatchObject({ status: "NEW" });
  expect(await order("out", "BUY", "9998999999999.99", "1")).toMatchObject({ reason: "PRICE_OUTSIDE_BAND" });
  const market = (orderId: string, quantity: string) =>
    big.execute({ type: "MARKET", orderId, clientId: "whale", symbol: "BIG", side: "BUY", quantity });
  expect(await market("m-over", "999999999999999")).toMatchObject({ reason: "NOTIONAL_TOO_LARGE" });
  expect(await market("m-under", "999999999999998")).toMatchObject({ status: "CANCELLED" });
});

test("instruments with fractional lots keep exact sizes", async () => {
  const btc = { symbol: "BTC-USD", price: "65000.01" } as const;
  await engine.execute({ type: "LIMIT", orderId: "a", clientId: "alice", side: "SELL", quantity: "0.3", ...btc });
  const r = await engine.execute({
    type: "LIMIT",
    orderId: "b",
    clientId: "bob",
    side: "BUY",
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
