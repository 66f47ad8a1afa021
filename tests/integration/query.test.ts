// The Query function's read routes against DynamoDB Local, moto and redis-server: executions validated, matched
// by the engine on Redis and written by the recorder's handler, then read back through the Query handler with
// API Gateway payload 2.0 events, and held to what the engine itself returned.
import { randomUUID } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { RecordSummary } from "@tradeflow/common/contracts";
import { SAMPLE_INSTRUMENTS } from "@tradeflow/common/instruments";
import type { MatchingEngine, OrderState, Trade } from "@tradeflow/common/orderbook";
import { validateEvent } from "@tradeflow/common/validation";
import type { Context } from "aws-lambda";
import type { Redis } from "ioredis";
import { connect, engineOn, instruments } from "../support/book-fixture";
import { useFunctionEnvironments } from "../support/function-environment";
import { REDIS_DB, redisDbUrl } from "../support/redis-db";
import { lambdaContext } from "./recording-stack";

type Handler = (event: unknown, context: Context) => Promise<unknown>;

let redis: Redis;
let engine: MatchingEngine;
let recorder: Handler;
let query: Handler;
/** Every trade the engine returned, by id. */
const executed = new Map<string, Trade>();

const START = Date.parse("2025-06-05T10:00:00Z");
const iso = (seconds: number) => new Date(START + seconds * 1000).toISOString();

interface Response {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: Record<string, unknown>;
}

/** One API Gateway HTTP API request (payload format 2.0) to the Query handler, as `sub`. */
async function get(
  sub: string | undefined,
  routeKey: string,
  pathParameters?: Record<string, string>,
  queryStringParameters?: Record<string, string>,
): Promise<Response> {
  const rawPath = routeKey.slice(4).replace(/\{(\w+)\}/g, (_, name: string) => pathParameters?.[name] ?? "");
  const event = {
    version: "2.0",
    routeKey,
    rawPath,
    rawQueryString: new URLSearchParams(queryStringParameters).toString(),
    headers: { authorization: "Bearer token" },
    requestContext: {
      http: { method: "GET", path: rawPath },
      routeKey,
      stage: "$default",
      ...(sub ? { authorizer: { jwt: { claims: { sub }, scopes: null } } } : {}),
    },
    ...(pathParameters ? { pathParameters } : {}),
    ...(queryStringParameters ? { queryStringParameters } : {}),
    isBase64Encoded: false,
  };
  const out = (await query(event, lambdaContext("query"))) as {
    statusCode: number;
    headers: Record<string, string>;
    body: string;
  };
  return { status: out.statusCode, contentType: out.headers["content-type"], body: JSON.parse(out.body) };
}

/** Every page of a paginated route, following nextCursor; no page is longer than the limit. */
async function pages(
  sub: string,
  routeKey: string,
  path: Record<string, string> | undefined,
  params: Record<string, string>,
) {
  const all: Record<string, unknown>[][] = [];
  let cursor: string | null = null;
  do {
    const res: Response = await get(sub, routeKey, path, { ...params, ...(cursor ? { cursor } : {}) });
    expect(res.status).toBe(200);
    const items = res.body.items as Record<string, unknown>[];
    expect(items.length).toBeLessThanOrEqual(Number(params.limit));
    all.push(items);
    cursor = res.body.nextCursor as string | null;
  } while (cursor && all.length < 20);
  return all;
}

let events = 0;
/** Validates, matches and records one order event at START + seconds, as the workflow does. */
async function execute(seconds: number, detailType: string, detail: Record<string, string>) {
  const event = {
    version: "0",
    id: `qry-${++events}`,
    "detail-type": detailType,
    source: "tradeflow.orders",
    account: "123456789012",
    time: iso(seconds),
    region: "us-east-1",
    resources: [],
    detail,
  };
  const validated = await validateEvent(event, { instruments: async () => instruments });
  if (!("command" in validated)) throw new Error(`${detailType} is not an engine command`);
  const match = await engine.execute(validated.command);
  expect(match).toMatchObject({ status: expect.not.stringMatching(/^REJECTED$/) });
  for (const t of match.trades) executed.set(t.tradeId, t);
  const enrichment = { session: "CONTINUOUS", defaulted: ["topOfBook: not looked up in this test"] };
  const state = JSON.parse(JSON.stringify({ ...event, processed: { validated: { ...validated, match }, enrichment } }));
  const summary = (await recorder(state, lambdaContext("recorder"))) as RecordSummary;
  expect(summary.outcome).toBe("RECORDED");
}

const submit = (
  seconds: number,
  clientId: string,
  orderId: string,
  symbol: string,
  side: string,
  price: string,
  quantity: string,
) => execute(seconds, "Order Submitted", { clientId, orderId, symbol, side, type: "LIMIT", price, quantity });

const state = async (symbol: string, orderId: string): Promise<OrderState> => {
  const s = await engine.getOrder(symbol, orderId);
  if (!s) throw new Error(`the engine does not know ${orderId}`);
  return s;
};
const trade = (id: string) => executed.get(id);
const ETH_ORDERS = ["Q-E1", "Q-E2", "Q-E3", "Q-E4", "Q-E5"];

beforeAll(async () => {
  await useFunctionEnvironments(`qry${randomUUID().slice(0, 8)}`, "RecorderFunction", "QueryFunction");
  process.env.AWS_ENDPOINT_URL = process.env.MOTO_ENDPOINT;
  process.env.REDIS_URL = redisDbUrl(REDIS_DB.query);
  process.env.POWERTOOLS_LOG_LEVEL = "SILENT";
  redis = connect(REDIS_DB.query);
  await redis.flushdb();
  engine = engineOn(redis);
  // Imported after the environment is set: the handlers read it and build their clients at load time.
  ({ handler: recorder } = await import("../../functions/recorder/index"));
  ({ handler: query } = await import("../../functions/query/index"));
  await submit(1, "alice", "Q-S1", "BTC-USD", "SELL", "100", "2");
  await submit(2, "alice", "Q-S2", "BTC-USD", "SELL", "101", "1");
  await submit(3, "alice", "Q-S3", "AAPL", "SELL", "190", "10");
  // Takes all of Q-S1 and half of Q-S2: two trades in one command.
  await submit(4, "bob", "Q-B1", "BTC-USD", "BUY", "101", "2.5");
  await submit(5, "alice", "Q-B2", "BTC-USD", "BUY", "92", "1");
  await execute(6, "Order Cancel Requested", { clientId: "alice", orderId: "Q-B2", symbol: "BTC-USD" });
  await submit(7, "bob", "Q-B3", "AAPL", "BUY", "190", "4");
  await submit(8, "carol", "Q-C1", "BTC-USD", "BUY", "95", "0.3");
  await submit(9, "carol", "Q-C2", "BTC-USD", "BUY", "94", "0.2");
  await submit(10, "carol", "Q-C3", "BTC-USD", "BUY", "95", "0.1");
  for (const [i, orderId] of ETH_ORDERS.entries()) {
    await submit(11 + i, "alice", orderId, "ETH-USD", "SELL", String(2000 + i), "1");
  }
}, 120_000);

afterAll(() => redis?.quit());

describe("GET /orders/{orderId}", () => {
  test("a maker partly filled: the engine's state, its versions with their trades, and its fill", async () => {
    const res = await get("alice", "GET /orders/{orderId}", { orderId: "Q-S2" });
    expect(res.status).toBe(200);
    expect(res.contentType).toBe("application/json");
    expect(res.body.order).toEqual(await state("BTC-USD", "Q-S2"));
    const versions = res.body.versions as { cause: string; trades: Trade[]; recordedAt: string; version: number }[];
    expect(versions.map((v) => [v.cause, v.trades])).toEqual([
      ["SUBMIT", []],
      ["FILL", [trade("BTC-USD-2")]],
    ]);
    expect(versions.every((v) => !Number.isNaN(Date.parse(v.recordedAt)))).toBe(true);
    expect(versions[1]?.version).toBe((await state("BTC-USD", "Q-S2")).version);
    expect(res.body.fills).toEqual([
      {
        tradeId: "BTC-USD-2",
        orderId: "Q-S2",
        symbol: "BTC-USD",
        side: "SELL",
        price: "101",
        quantity: "0.5",
        liquidity: "MAKER",
        executedAt: iso(4),
      },
    ]);
  });

  test("a taker that traded twice in one command: both fills, as TAKER, at the engine's prices", async () => {
    const res = await get("bob", "GET /orders/{orderId}", { orderId: "Q-B1" });
    expect(res.body.order).toEqual(await state("BTC-USD", "Q-B1"));
    expect(res.body.order).toMatchObject({ status: "FILLED", filledQuantity: "2.5", averagePrice: "100.2" });
    expect(res.body.fills).toEqual(
      ["BTC-USD-1", "BTC-USD-2"].map((id) => ({
        tradeId: id,
        orderId: "Q-B1",
        symbol: "BTC-USD",
        side: "BUY",
        price: trade(id)?.price,
        quantity: trade(id)?.quantity,
        liquidity: "TAKER",
        executedAt: iso(4),
      })),
    );
  });

  test("a cancelled order: SUBMIT then CANCEL, no fills", async () => {
    const res = await get("alice", "GET /orders/{orderId}", { orderId: "Q-B2" });
    expect(res.body.order).toEqual(await state("BTC-USD", "Q-B2"));
    expect(res.body.order).toMatchObject({ status: "CANCELLED", cancelledQuantity: "1" });
    expect((res.body.versions as { cause: string }[]).map((v) => v.cause)).toEqual(["SUBMIT", "CANCEL"]);
    expect(res.body.fills).toEqual([]);
  });

  test("another client's order and an unknown one are both 404 ORDER_NOT_FOUND", async () => {
    for (const [sub, orderId] of [
      ["bob", "Q-S1"],
      ["carol", "Q-B1"],
      ["alice", "Q-NOPE"],
    ] as const) {
      const res = await get(sub, "GET /orders/{orderId}", { orderId });
      expect(res).toEqual({
        status: 404,
        contentType: "application/problem+json",
        body: {
          type: "https://tradeflow.example/problems/order-not-found",
          title: "Order not found",
          status: 404,
          detail: `no order ${orderId}`,
          code: "ORDER_NOT_FOUND",
        },
      });
    }
  });
});

describe("GET /orders", () => {
  const ALICE_NEWEST_FIRST = [...ETH_ORDERS].reverse().concat(["Q-B2", "Q-S3", "Q-S2", "Q-S1"]);

  test("the client's own orders, newest first, across pages: none twice, none missing", async () => {
    const all = await pages("alice", "GET /orders", undefined, { limit: "2" });
    expect(all.map((p) => p.length)).toEqual([2, 2, 2, 2, 1]);
    const orders = all.flat() as unknown as OrderState[];
    expect(orders.map((o) => o.orderId)).toEqual(ALICE_NEWEST_FIRST);
    for (const o of orders) expect(o).toEqual(await state(o.symbol, o.orderId));
  });

  test("one page holds them all with the default limit, and then there is no cursor", async () => {
    const res = await get("alice", "GET /orders");
    expect((res.body.items as OrderState[]).map((o) => o.orderId)).toEqual(ALICE_NEWEST_FIRST);
    expect(res.body.nextCursor).toBeNull();
  });

  test("filtered by status and by symbol, paginated", async () => {
    const open = await pages("alice", "GET /orders", undefined, { status: "NEW", limit: "2" });
    expect(open.flat().map((o) => o.orderId)).toEqual([...ETH_ORDERS].reverse());
    const btc = await pages("alice", "GET /orders", undefined, { symbol: "BTC-USD", limit: "1" });
    expect(btc.flat().map((o) => o.orderId)).toEqual(["Q-B2", "Q-S2", "Q-S1"]);
    const both = await get("alice", "GET /orders", undefined, { symbol: "BTC-USD", status: "FILLED" });
    expect((both.body.items as OrderState[]).map((o) => o.orderId)).toEqual(["Q-S1"]);
  });

  test("never another client's", async () => {
    const carol = await get("carol", "GET /orders");
    expect((carol.body.items as OrderState[]).map((o) => [o.orderId, o.clientId])).toEqual([
      ["Q-C3", "carol"],
      ["Q-C2", "carol"],
      ["Q-C1", "carol"],
    ]);
    expect((await get("dave", "GET /orders")).body).toEqual({ items: [], nextCursor: null });
  });
});

describe("GET /fills", () => {
  test("the maker's fills, newest first, one per page", async () => {
    const all = await pages("alice", "GET /fills", undefined, { limit: "1" });
    expect(all.flat().map((f) => [f.tradeId, f.orderId, f.liquidity, f.quantity])).toEqual([
      ["AAPL-1", "Q-S3", "MAKER", "4"],
      ["BTC-USD-2", "Q-S2", "MAKER", "0.5"],
      ["BTC-USD-1", "Q-S1", "MAKER", "2"],
    ]);
  });

  test("a page can end inside one command's trades: the cursor resumes there", async () => {
    const all = await pages("bob", "GET /fills", undefined, { limit: "2" });
    expect(all.map((p) => p.map((f) => f.tradeId))).toEqual([["AAPL-1", "BTC-USD-2"], ["BTC-USD-1"]]);
    expect(all.flat()).toContainEqual({
      tradeId: "AAPL-1",
      orderId: "Q-B3",
      symbol: "AAPL",
      side: "BUY",
      price: "190",
      quantity: "4",
      liquidity: "TAKER",
      executedAt: iso(7),
    });
  });

  test("filtered by symbol; a client without trades has none", async () => {
    const aapl = await get("bob", "GET /fills", undefined, { symbol: "AAPL" });
    expect((aapl.body.items as { tradeId: string }[]).map((f) => f.tradeId)).toEqual(["AAPL-1"]);
    expect((await get("carol", "GET /fills")).body).toEqual({ items: [], nextCursor: null });
  });
});

describe("GET /instruments", () => {
  test("the SSM registry's instruments", async () => {
    const res = await get("carol", "GET /instruments");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ items: SAMPLE_INSTRUMENTS });
  });
});

describe("GET /books/{symbol}", () => {
  test("the engine's depth, best first, with exact cumulative quantities", async () => {
    const res = await get("dave", "GET /books/{symbol}", { symbol: "BTC-USD" });
    expect(res.status).toBe(200);
    const depth = await engine.depth("BTC-USD", 20);
    expect(res.body).toEqual({ symbol: "BTC-USD", bids: depth.bids, asks: depth.asks });
    expect(res.body.bids).toEqual([
      { price: "95", quantity: "0.4", orders: 2, cumulativeQuantity: "0.4" },
      { price: "94", quantity: "0.2", orders: 1, cumulativeQuantity: "0.6" },
    ]);
    expect(res.body.asks).toEqual([{ price: "101", quantity: "0.5", orders: 1, cumulativeQuantity: "0.5" }]);
  });

  test("depth limits the levels per side", async () => {
    const res = await get("dave", "GET /books/{symbol}", { symbol: "ETH-USD" }, { depth: "2" });
    expect(res.body).toEqual({
      symbol: "ETH-USD",
      bids: [],
      asks: [
        { price: "2000", quantity: "1", orders: 1, cumulativeQuantity: "1" },
        { price: "2001", quantity: "1", orders: 1, cumulativeQuantity: "2" },
      ],
    });
  });
});

describe("GET /trades/{symbol}", () => {
  test("the symbol's engine trades in time order, as the engine returned them, across pages", async () => {
    const all = await pages("dave", "GET /trades/{symbol}", { symbol: "BTC-USD" }, { limit: "1" });
    expect(all.flat()).toEqual([trade("BTC-USD-1"), trade("BTC-USD-2")]);
    expect(all).toHaveLength(2);
  });

  test("from is inclusive and to exclusive", async () => {
    const between = (from: string, to: string) =>
      get("dave", "GET /trades/{symbol}", { symbol: "BTC-USD" }, { from, to }).then((r) =>
        (r.body.items as Trade[]).map((t) => t.tradeId),
      );
    expect(await between(iso(4), iso(5))).toEqual(["BTC-USD-1", "BTC-USD-2"]);
    expect(await between(iso(3), iso(4))).toEqual([]);
    expect(await between(iso(5), iso(60))).toEqual([]);
    // Any offset names the same instant.
    expect(await between("2025-06-05T06:00:03-04:00", "2025-06-05T12:00:04.001+02:00")).toEqual([
      "BTC-USD-1",
      "BTC-USD-2",
    ]);
    const aapl = await get("dave", "GET /trades/{symbol}", { symbol: "AAPL" }, { from: iso(0) });
    expect(aapl.body).toEqual({ items: [trade("AAPL-1")], nextCursor: null });
  });
});

describe("refusals", () => {
  const problem = (res: Response) => ({ contentType: res.contentType, ...res.body });

  test.each([
    ["GET /orders", undefined, { limit: "0" }, "limit"],
    ["GET /orders", undefined, { limit: "101" }, "limit"],
    ["GET /orders", undefined, { limit: "1.5" }, "limit"],
    ["GET /orders", undefined, { limit: "01" }, "limit"],
    ["GET /orders", undefined, { status: "OPEN" }, "status"],
    ["GET /orders", undefined, { symbol: "btc usd" }, "symbol"],
    ["GET /orders", undefined, { limt: "5" }, "limt"],
    ["GET /fills", undefined, { limit: "many" }, "limit"],
    ["GET /orders/{orderId}", { orderId: "bad id!" }, undefined, "orderId"],
    ["GET /books/{symbol}", { symbol: "BTC-USD" }, { depth: "0" }, "depth"],
    ["GET /books/{symbol}", { symbol: "BTC-USD" }, { depth: "101" }, "depth"],
    ["GET /trades/{symbol}", { symbol: "BTC-USD" }, { from: "yesterday" }, "from"],
    ["GET /trades/{symbol}", { symbol: "BTC-USD" }, { to: "2025-06-05 10:00:00" }, "to"],
    ["GET /trades/{symbol}", { symbol: "BTC-USD" }, { from: iso(5), to: iso(4) }, "to"],
    ["GET /positions", undefined, { symbol: "BTC-USD" }, "symbol"],
    ["GET /candles/{symbol}", { symbol: "BTC-USD" }, undefined, "interval"],
    ["GET /candles/{symbol}", { symbol: "BTC-USD" }, { interval: "2m" }, "interval"],
    ["GET /candles/{symbol}", { symbol: "BTC-USD" }, { interval: "1M" }, "interval"],
    ["GET /candles/{symbol}", { symbol: "BTC-USD" }, { interval: "1m", from: "today" }, "from"],
    ["GET /candles/{symbol}", { symbol: "BTC-USD" }, { interval: "1m", from: iso(60), to: iso(0) }, "to"],
    // 1001 minutes; 1000 are allowed (below).
    ["GET /candles/{symbol}", { symbol: "BTC-USD" }, { interval: "1m", from: iso(0), to: iso(60_060) }, "to"],
    ["GET /candles/{symbol}", { symbol: "BTC-USD" }, { interval: "1h", from: iso(-3_603_600), to: iso(0) }, "to"],
  ])("%s %j %j: 400 INVALID_REQUEST naming %s", async (route, path, query, name) => {
    const res = await get("alice", route, path, query);
    expect(problem(res)).toEqual({
      contentType: "application/problem+json",
      type: "https://tradeflow.example/problems/invalid-request",
      status: 400,
      title: "Invalid request",
      code: "INVALID_REQUEST",
      detail: expect.stringMatching(new RegExp(`^${name}: `)),
    });
  });

  test("an unlisted symbol is 404 UNKNOWN_SYMBOL for the book and the trades", async () => {
    for (const route of ["GET /books/{symbol}", "GET /trades/{symbol}"]) {
      const res = await get("alice", route, { symbol: "DOGE-USD" });
      expect(problem(res)).toMatchObject({ status: 404, code: "UNKNOWN_SYMBOL", detail: "no instrument DOGE-USD" });
    }
  });

  test("a cursor of another client, another route or another symbol, or a tampered one, is 400 INVALID_CURSOR", async () => {
    const first = async (sub: string, route: string, path?: Record<string, string>) =>
      String((await get(sub, route, path, { limit: "1" })).body.nextCursor);
    const aliceOrders = await first("alice", "GET /orders");
    const btcTrades = await first("dave", "GET /trades/{symbol}", { symbol: "BTC-USD" });
    const decoded = JSON.parse(Buffer.from(aliceOrders, "base64url").toString("utf8"));
    const forged = { ...decoded, key: { ...decoded.key, gsi2pk: "CLIENT#bob" } };
    const refused: [string, string, Record<string, string> | undefined, string][] = [
      ["bob", "GET /orders", undefined, aliceOrders],
      ["alice", "GET /fills", undefined, aliceOrders],
      ["dave", "GET /trades/{symbol}", { symbol: "ETH-USD" }, btcTrades],
      ["alice", "GET /orders", undefined, aliceOrders.slice(0, -3)],
      ["alice", "GET /orders", undefined, Buffer.from(JSON.stringify(forged)).toString("base64url")],
      ["alice", "GET /orders", undefined, "not a cursor"],
    ];
    for (const [sub, route, path, cursor] of refused) {
      expect(problem(await get(sub, route, path, { cursor }))).toEqual({
        contentType: "application/problem+json",
        type: "https://tradeflow.example/problems/invalid-cursor",
        status: 400,
        title: "Invalid cursor",
        code: "INVALID_CURSOR",
        detail: "cursor is not one this request returned",
      });
    }
    expect((await get("alice", "GET /orders", undefined, { cursor: aliceOrders })).status).toBe(200);
  });

  test("a record the reads cannot parse is 500 INTERNAL, and says nothing of why", async () => {
    const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));
    const Item = {
      pk: "ORDER#Q-BAD",
      sk: "META",
      entity: "ORDER",
      ...(await state("BTC-USD", "Q-S1")),
      price: "1e309",
    };
    await db.send(new PutCommand({ TableName: process.env.COMPLIANCE_TABLE, Item }));
    const res = await get("alice", "GET /orders/{orderId}", { orderId: "Q-BAD" });
    expect(problem(res)).toEqual({
      contentType: "application/problem+json",
      type: "https://tradeflow.example/problems/internal",
      status: 500,
      title: "Internal error",
      detail: "The request could not be completed.",
      code: "INTERNAL",
    });
    db.destroy();
  });

  test("without a subject claim: 401 as API Gateway answers it", async () => {
    const res = await get(undefined, "GET /orders");
    expect(res).toMatchObject({ status: 401, body: { message: "Unauthorized" } });
  });
});

describe("GET /positions and GET /candles/{symbol}", () => {
  // After every test above, which these trades would change: dave buys 32 lots of BTC-USD (0.0001 each) from erin,
  // 31 at 100.00 and 1 at 100.01, so both hold 320001 ticks × lots over 32 lots: 100.0003125, a tie at the six
  // decimals an average has (tick 0.01, + 4), which half-even rounds down to the even 2. erin then buys 2 lots
  // back at 101 from alice: FIFO closes 2 of her oldest lots, sold at 100, realising -1 × 0.0002.
  beforeAll(async () => {
    await submit(20, "erin", "Q-X1", "BTC-USD", "SELL", "100", "0.0031");
    await submit(21, "erin", "Q-X2", "BTC-USD", "SELL", "100.01", "0.0001");
    await submit(22, "dave", "Q-D1", "BTC-USD", "BUY", "100.01", "0.0032");
    await submit(23, "erin", "Q-X3", "BTC-USD", "BUY", "101", "0.0002");
  }, 60_000);

  test("each client's own positions, exact, with the average rounded half-even", async () => {
    const positions = async (sub: string) => {
      const res = await get(sub, "GET /positions");
      expect(res.status).toBe(200);
      return res.body;
    };
    // The registry's order: BTC-USD, ETH-USD, AAPL.
    expect(await positions("alice")).toEqual({
      items: [
        // Sold 2 at 100, 0.5 at 101 (to bob) and 0.0002 at 101 (to erin): 200 + 50.5 + 0.0202.
        {
          symbol: "BTC-USD",
          netQuantity: "-2.5002",
          costBasis: "250.5202",
          averageCost: "100.200064",
          realisedPnl: "0",
        },
        { symbol: "AAPL", netQuantity: "-4", costBasis: "760", averageCost: "190", realisedPnl: "0" },
      ],
    });
    expect(await positions("bob")).toEqual({
      items: [
        { symbol: "BTC-USD", netQuantity: "2.5", costBasis: "250.5", averageCost: "100.2", realisedPnl: "0" },
        { symbol: "AAPL", netQuantity: "4", costBasis: "760", averageCost: "190", realisedPnl: "0" },
      ],
    });
    expect(await positions("dave")).toEqual({
      items: [
        {
          symbol: "BTC-USD",
          netQuantity: "0.0032",
          costBasis: "0.320001",
          averageCost: "100.000312",
          realisedPnl: "0",
        },
      ],
    });
    // Short 32 lots, then 2 bought back at 101 against the oldest at 100: 0.0002 × -1 realised; 29 lots at 100 and
    // 1 at 100.01 left, 0.300001 over 0.003: 100.000333...
    expect(await positions("erin")).toEqual({
      items: [
        {
          symbol: "BTC-USD",
          netQuantity: "-0.003",
          costBasis: "0.300001",
          averageCost: "100.000333",
          realisedPnl: "-0.0002",
        },
      ],
    });
    // carol only rests bids; frank never traded: neither sees anyone else's.
    expect(await positions("carol")).toEqual({ items: [] });
    expect(await positions("frank")).toEqual({ items: [] });
  });

  test("the engine's trades as candles: first and last by time, exact notional, vwap rounded half-even", async () => {
    const candles = (symbol: string, query: Record<string, string>) =>
      get("frank", "GET /candles/{symbol}", { symbol }, query).then((r) => {
        expect(r.status).toBe(200);
        return r.body;
      });
    // BTC-USD-1 and -2 at :04 (100 × 2, 101 × 0.5), -3 and -4 at :22, -5 at :23 (101 × 0.0002).
    const btc = {
      start: iso(0),
      open: "100",
      high: "101",
      low: "100",
      close: "101",
      volume: "2.5034",
      notional: "250.840201",
      vwap: "100.199809",
      tradeCount: 5,
    };
    expect(await candles("BTC-USD", { interval: "1m", from: iso(0), to: iso(60) })).toEqual({
      symbol: "BTC-USD",
      interval: "1m",
      from: iso(0),
      to: iso(60),
      items: [btc],
    });
    // The hour's candle holds the same trades. A candle is in the range when its start is: 10:00 is before 10:00:01.
    expect(await candles("BTC-USD", { interval: "1h", from: iso(-3600), to: iso(3600) })).toMatchObject({
      items: [btc],
    });
    expect(await candles("BTC-USD", { interval: "5m", from: iso(1), to: iso(3600) })).toMatchObject({ items: [] });
    expect(await candles("AAPL", { interval: "5m", from: iso(0), to: iso(300) })).toMatchObject({
      items: [
        {
          start: iso(0),
          open: "190",
          high: "190",
          low: "190",
          close: "190",
          volume: "4",
          notional: "760",
          vwap: "190",
          tradeCount: 1,
        },
      ],
    });
    // No trade on ETH-USD: no candle. 1000 intervals are allowed.
    expect(await candles("ETH-USD", { interval: "1m", from: iso(0), to: iso(60_000) })).toMatchObject({ items: [] });
  });

  test("without from and to: the last 60 intervals up to now", async () => {
    const before = Date.now();
    const res = await get("frank", "GET /candles/{symbol}", { symbol: "BTC-USD" }, { interval: "5m" });
    const { from, to, items } = res.body as { from: string; to: string; items: unknown[] };
    expect(Date.parse(to)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(to)).toBeLessThanOrEqual(Date.now());
    expect(Date.parse(to) - Date.parse(from)).toBe(60 * 300_000);
    expect(items).toEqual([]);
  });

  test("an unlisted symbol is 404 UNKNOWN_SYMBOL", async () => {
    const res = await get("alice", "GET /candles/{symbol}", { symbol: "DOGE-USD" }, { interval: "1m" });
    expect(res).toMatchObject({
      status: 404,
      contentType: "application/problem+json",
      body: { code: "UNKNOWN_SYMBOL", detail: "no instrument DOGE-USD" },
    });
  });
});
