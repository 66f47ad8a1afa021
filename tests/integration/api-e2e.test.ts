// The trading API end to end, through HTTP only: orders go in with POST and DELETE (API Gateway's PutEvents
// integration onto the local bus, then the whole workflow), and everything a client sees comes back through the
// read routes with its own token. What the API says is held to the engine's own state and the compliance table.
// Then isolation: another client's token never reads, cancels or counts someone else's orders, fills or positions.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { MatchingEngine } from "@tradeflow/common/orderbook";
import type { Redis } from "ioredis";
import type { LocalStack } from "../../local/stack";
import { connect, engineOn } from "../support/book-fixture";
import { getItem, harnessStack } from "../support/pipeline";
import { REDIS_DB } from "../support/redis-db";

let stack: LocalStack;
let redis: Redis;
let engine: MatchingEngine;
let doc: DynamoDBDocumentClient;
const tokens: Record<string, string> = {};
const SYMBOL = "BTC-USD";
const table = () => stack.resources.tables.ComplianceTable ?? "";

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

async function call(client: string, method: string, path: string, body?: unknown): Promise<Answer> {
  tokens[client] ??= await stack.issuer.token(client);
  const res = await fetch(new URL(path.replace(/^\//, ""), `${stack.apiEndpoint}/`), {
    method,
    headers: { authorization: `Bearer ${tokens[client]}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const get = (client: string, path: string) => call(client, "GET", path);

/** POST /orders: 202 with PutEvents' answer, the event id of the order on the bus. */
async function submit(client: string, order: Record<string, unknown>): Promise<string> {
  const res = await call(client, "POST", "/orders", { symbol: SYMBOL, type: "LIMIT", ...order });
  expect(res).toEqual({ status: 202, body: { FailedEntryCount: 0, Entries: [{ EventId: expect.any(String) }] } });
  return String((res.body.Entries as { EventId: string }[])[0]?.EventId);
}

/** DELETE /orders/{orderId}: 202 with the event id of the cancel request on the bus. */
async function cancel(client: string, orderId: string): Promise<string> {
  const res = await call(client, "DELETE", `/orders/${orderId}?symbol=${SYMBOL}`);
  expect(res).toEqual({ status: 202, body: { FailedEntryCount: 0, Entries: [{ EventId: expect.any(String) }] } });
  return String((res.body.Entries as { EventId: string }[])[0]?.EventId);
}

/** The order as its owner reads it, once the workflow has settled everything in flight. */
async function order(client: string, orderId: string): Promise<Record<string, unknown>> {
  await stack.idle();
  const res = await get(client, `/orders/${orderId}`);
  expect(res.status).toBe(200);
  return res.body;
}

const stateOf = (detail: Record<string, unknown>) => detail.order as Record<string, unknown>;

beforeAll(async () => {
  stack = await harnessStack("apie2e", REDIS_DB.apiE2e);
  redis = connect(REDIS_DB.apiE2e);
  engine = engineOn(redis);
  doc = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: stack.dynamoEndpoint, region: stack.region }));
});

afterAll(async () => {
  await redis?.quit();
  doc?.destroy();
  await stack?.stop();
});

describe("a client's day through the API", () => {
  it("submits, fills, resubmits, cancels, and reads book, trades, candles and positions that agree", async () => {
    await submit("globex", { orderId: "G-1", side: "SELL", price: "50000", quantity: "0.5" });
    await submit("acme", { orderId: "A-1", side: "BUY", price: "50010", quantity: "0.2" });

    const a1 = await order("acme", "A-1");
    expect(stateOf(a1)).toMatchObject({ clientId: "acme", status: "FILLED", filledQuantity: "0.2" });
    expect(a1.fills).toEqual([expect.objectContaining({ price: "50000", quantity: "0.2" })]);
    const g1 = await order("globex", "G-1");
    expect(stateOf(g1)).toMatchObject({ status: "PARTIALLY_FILLED", filledQuantity: "0.2", remainingQuantity: "0.3" });

    // The same order again is a replay: the engine answers its first result, and nothing the API shows moves.
    await submit("acme", { orderId: "A-1", side: "BUY", price: "50010", quantity: "0.2" });
    expect(await order("acme", "A-1")).toEqual(a1);

    const book = await get("acme", `/books/${SYMBOL}`);
    expect(book.body.asks).toEqual([expect.objectContaining({ price: "50000", quantity: "0.3" })]);

    await cancel("globex", "G-1");
    const g1After = await order("globex", "G-1");
    expect(stateOf(g1After)).toMatchObject({ status: "CANCELLED", filledQuantity: "0.2", cancelledQuantity: "0.3" });
    expect((await get("acme", `/books/${SYMBOL}`)).body).toMatchObject({ bids: [], asks: [] });

    const trades = await get("acme", `/trades/${SYMBOL}`);
    expect(trades.status).toBe(200);
    expect(trades.body.items).toEqual([expect.objectContaining({ price: "50000", quantity: "0.2" })]);

    const candles = await get("acme", `/candles/${SYMBOL}?interval=1m`);
    expect(candles.status).toBe(200);
    expect(candles.body.items).toEqual([
      expect.objectContaining({
        open: "50000",
        high: "50000",
        low: "50000",
        close: "50000",
        volume: "0.2",
        notional: "10000",
        tradeCount: 1,
      }),
    ]);

    const acme = await get("acme", "/positions");
    const globex = await get("globex", "/positions");
    expect(acme.body.items).toEqual([
      expect.objectContaining({ symbol: SYMBOL, netQuantity: "0.2", costBasis: "10000", realisedPnl: "0" }),
    ]);
    expect(globex.body.items).toEqual([
      expect.objectContaining({ symbol: SYMBOL, netQuantity: "-0.2", costBasis: "10000", realisedPnl: "0" }),
    ]);

    // The API says what the engine and the compliance record say.
    expect(await engine.positions("acme")).toEqual(acme.body.items);
    const engineOrder = await engine.getOrder(SYMBOL, "G-1");
    for (const field of ["status", "filledQuantity", "cancelledQuantity", "version"] as const) {
      expect({ field, api: stateOf(g1After)[field] }).toEqual({ field, api: engineOrder?.[field] });
    }
    const recorded = await getItem(doc, table(), "ORDER#G-1", "META");
    expect(recorded).toMatchObject({ status: "CANCELLED", filledQuantity: "0.2", version: engineOrder?.version });
  });
});

describe("isolation: a token acts for its own client only", () => {
  beforeAll(async () => {
    await submit("acme", { orderId: "A-REST", side: "BUY", price: "49000", quantity: "0.1" });
    await stack.idle();
  });

  it("reads another client's order as 404, exactly as an unknown one", async () => {
    const theirs = await get("globex", "/orders/A-REST");
    const unknown = await get("globex", "/orders/NO-SUCH-ORDER");
    expect(theirs.status).toBe(404);
    expect({ ...theirs.body, detail: null, instance: null }).toEqual({ ...unknown.body, detail: null, instance: null });
  });

  it("cannot cancel another client's order: the engine refuses it and the order rests on", async () => {
    const eventId = await cancel("globex", "A-REST");
    expect(stateOf(await order("acme", "A-REST"))).toMatchObject({ status: "NEW", cancelledQuantity: "0" });
    expect(await getItem(doc, table(), `REJECTION#${eventId}`, "META")).toMatchObject({
      clientId: "globex",
      reasons: ["NOT_ORDER_OWNER"],
    });
  });

  it("lists, fills and positions are the caller's own", async () => {
    const orders = (await get("globex", "/orders")).body.items as { orderId: string; clientId: string }[];
    expect(orders.map((o) => o.clientId)).toEqual(orders.map(() => "globex"));
    expect(orders.map((o) => o.orderId)).not.toContain("A-REST");
    const fills = (await get("globex", "/fills")).body.items as { orderId: string }[];
    expect(fills.map((f) => f.orderId)).toEqual(["G-1"]);
    expect((await get("initech", "/positions")).body.items).toEqual([]);
  });

  it("a body that names a client is refused, and no order is made for anyone", async () => {
    const eventId = await submit("globex", {
      orderId: "G-SPOOF",
      clientId: "acme",
      side: "BUY",
      price: "49000",
      quantity: "0.1",
    });
    await stack.idle();
    expect((await get("globex", "/orders/G-SPOOF")).status).toBe(404);
    expect((await get("acme", "/orders/G-SPOOF")).status).toBe(404);
    expect(await getItem(doc, table(), `REJECTION#${eventId}`, "META")).toMatchObject({
      clientId: "globex",
      reasons: ["INVALID_FIELD"],
      message: expect.stringContaining("detail.order.clientId"),
    });
  });

  it("another client's order id is refused for the newcomer and leaves the first order as it was", async () => {
    const before = await order("acme", "A-REST");
    await submit("globex", { orderId: "A-REST", side: "SELL", price: "51000", quantity: "0.1" });
    expect(await order("acme", "A-REST")).toEqual(before);
    expect((await get("globex", "/orders/A-REST")).status).toBe(404);
  });
});
