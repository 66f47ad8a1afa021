// The Matcher Lambda handler on every sample in events/matcher, against the harness's redis-server and moto SSM.
import { readFileSync } from "node:fs";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { CommandResultSchema } from "@tradeflow/common/contracts";
import { SAMPLE_INSTRUMENTS } from "@tradeflow/common/instruments";
import type { CommandResult } from "@tradeflow/common/orderbook";
import type { Context } from "aws-lambda";
import { Redis } from "ioredis";
import { REDIS_DB, redisDbUrl } from "../support/redis-db";

const context = { functionName: "MatcherFunction", awsRequestId: "test" } as Context;
const sample = (name: string): unknown => JSON.parse(readFileSync(`events/matcher/${name}.json`, "utf8"));
let handler: (event: unknown, context: Context) => Promise<CommandResult>;

beforeAll(async () => {
  process.env.REDIS_URL = redisDbUrl(REDIS_DB.matcherHandler);
  process.env.AWS_ENDPOINT_URL_SSM = process.env.MOTO_ENDPOINT;
  process.env.CONFIG_PATH = "/tradeflow/matcher-test";
  const ssm = new SSMClient({});
  await ssm.send(
    new PutParameterCommand({
      Name: "/tradeflow/matcher-test/instruments",
      Type: "String",
      Overwrite: true,
      Value: JSON.stringify(SAMPLE_INSTRUMENTS),
    }),
  );
  const redis = new Redis(process.env.REDIS_URL!);
  await redis.flushdb(); // this file's own database: the mass cancel below touches every symbol
  await redis.quit();
  ({ handler } = await import("../../functions/matcher/index"));
});

test("the samples run in order: rest, cross, amend down, cancel the rest, market on the bid-less book, mass cancel", async () => {
  const sell = await handler(sample("limit-sell"), context);
  expect(sell).toMatchObject({ status: "NEW", remainingQuantity: "40" });
  const buy = await handler(sample("limit-buy-crossing"), context);
  expect(buy).toMatchObject({ status: "FILLED", averagePrice: "185.1", version: 2 });
  expect(CommandResultSchema.parse(buy)).toEqual(buy);
  expect(buy).toMatchObject({ selfTradePreventions: [], openOrdersLeft: null });
  expect(buy.affected).toEqual([
    expect.objectContaining({
      orderId: "ord-sell-0001",
      status: "PARTIALLY_FILLED",
      remainingQuantity: "15",
      version: 2,
    }),
  ]);
  expect(buy.trades).toEqual([
    expect.objectContaining({
      price: "185.1",
      quantity: "25",
      makerOrderId: "ord-sell-0001",
      timestamp: 1795000000500,
    }),
  ]);
  // 40 down to 30 with 25 filled: 5 rest, in place.
  const amended = await handler(sample("amend"), context);
  expect(CommandResultSchema.parse(amended)).toEqual(amended);
  expect(amended).toMatchObject({
    commandType: "AMEND",
    status: "PARTIALLY_FILLED",
    remainingQuantity: "5",
    version: 3,
  });
  expect(await handler(sample("cancel"), context)).toMatchObject({ status: "CANCELLED", cancelledQuantity: "5" });
  expect(await handler(sample("market-ioc"), context)).toMatchObject({ status: "CANCELLED", filledQuantity: "0" });
  const massCancel = await handler(sample("cancel-all"), context);
  expect(CommandResultSchema.parse(massCancel)).toEqual(massCancel);
  expect(massCancel).toMatchObject({ commandType: "CANCEL_ALL", status: "CANCELLED", affected: [], openOrdersLeft: 0 });
});

test("an amend and a mass cancel run through the handler, and replay on redelivery", async () => {
  const order = { orderId: "ord-buy-0002", clientId: "acme", symbol: "AAPL" } as const;
  const limit = { type: "LIMIT", ...order, side: "BUY", price: "185", quantity: "10", timestamp: 1795000003000 };
  expect(await handler(limit, context)).toMatchObject({ status: "NEW", version: 7 });
  const amend = { type: "AMEND", commandId: "amd-0002", ...order, price: "185.05", quantity: "12" };
  const amended = await handler(amend, context);
  expect(CommandResultSchema.parse(amended)).toEqual(amended);
  expect(amended).toMatchObject({
    commandType: "AMEND",
    status: "NEW",
    trades: [],
    affected: [],
    order: { price: "185.05", quantity: "12", remainingQuantity: "12", version: 8 },
  });
  const cancelAll = { type: "CANCEL_ALL", commandId: "kill-0002", clientId: "acme" };
  const all = await handler(cancelAll, context);
  expect(CommandResultSchema.parse(all)).toEqual(all);
  expect(all).toMatchObject({
    commandType: "CANCEL_ALL",
    orderId: null,
    symbol: null,
    version: null,
    openOrdersLeft: 0,
  });
  expect(all.affected).toEqual([
    { ...amended.order, status: "CANCELLED", remainingQuantity: "0", cancelledQuantity: "12", version: 9 },
  ]);
  expect(await handler(amend, context)).toEqual({ ...amended, replayed: true });
  expect(await handler(cancelAll, context)).toEqual({ ...all, replayed: true });
});

test("a redelivered sample returns the original result", async () => {
  const again = await handler(sample("limit-buy-crossing"), context);
  expect(again).toMatchObject({ status: "FILLED", replayed: true });
});

test("bad input is a typed rejection, not a crash", async () => {
  expect(await handler("not json at all", context)).toMatchObject({ status: "REJECTED", reason: "INVALID_COMMAND" });
  expect(await handler({ ...(sample("limit-sell") as object), price: "1e309" }, context)).toMatchObject({
    status: "REJECTED",
    reason: "INVALID_PRICE",
  });
});

afterAll(async () => {
  const { sharedRedis } = await import("@tradeflow/common/redis");
  await (await sharedRedis()).quit();
});
