// The Matcher Lambda handler on every sample in events/matcher, against the harness's redis-server and moto SSM.
import { readFileSync } from "node:fs";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { CommandResultSchema } from "@tradeflow/common/contracts";
import { SAMPLE_INSTRUMENTS } from "@tradeflow/common/instruments";
import type { CommandResult } from "@tradeflow/common/orderbook";
import type { Context } from "aws-lambda";
import { Redis } from "ioredis";

const context = { functionName: "MatcherFunction", awsRequestId: "test" } as Context;
const sample = (name: string): unknown => JSON.parse(readFileSync(`events/matcher/${name}.json`, "utf8"));
let handler: (event: unknown, context: Context) => Promise<CommandResult>;

beforeAll(async () => {
  process.env.REDIS_URL = `${process.env.REDIS_URL}/3`;
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
  await redis.del(...(await redis.keys("tf:{AAPL}:*")), "unused");
  await redis.quit();
  ({ handler } = await import("../../functions/matcher/index"));
});

test("the samples run in order: rest, cross, cancel the rest, market on the bid-less book", async () => {
  const sell = await handler(sample("limit-sell"), context);
  expect(sell).toMatchObject({ status: "NEW", remainingQuantity: "40" });
  const buy = await handler(sample("limit-buy-crossing"), context);
  expect(buy).toMatchObject({ status: "FILLED", averagePrice: "185.1", version: 2 });
  expect(CommandResultSchema.parse(buy)).toEqual(buy);
  expect(buy.makers).toEqual([
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
  expect(await handler(sample("cancel"), context)).toMatchObject({ status: "CANCELLED", cancelledQuantity: "15" });
  expect(await handler(sample("market-ioc"), context)).toMatchObject({ status: "CANCELLED", filledQuantity: "0" });
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
