// The Enricher Lambda handler against the local stack: SSM config from moto, top of book from redis-server
// through the matching engine's query API.
import { clearCaches } from "@aws-lambda-powertools/parameters";
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { loadConfig } from "@tradeflow/common/config";
import { type Enrichment, EnrichmentSchema } from "@tradeflow/common/contracts";
import {
  enrichEvent,
  FeeScheduleSchema,
  SAMPLE_FEE_SCHEDULE,
  TradingSessionsSchema,
  topOfBookFromEngine,
} from "@tradeflow/common/enrichment";
import {
  type Instrument,
  InstrumentListSchema,
  instrumentRegistry,
  SAMPLE_INSTRUMENTS,
} from "@tradeflow/common/instruments";
import { MatchingEngine } from "@tradeflow/common/orderbook";
import { connectRedis } from "@tradeflow/common/redis";
import type { Context } from "aws-lambda";
import { Redis } from "ioredis";
import { freePort } from "../../local/servers";
import { BAD_INPUTS } from "../support/bad-inputs";
import { useFunctionEnvironments } from "../support/function-environment";
import { orderEvent, tradeEvent } from "../support/test-events";

type Handler = (event: unknown, context: Context) => Promise<Enrichment>;

// A symbol of this test's own, so that its resting orders never meet another test's book.
const SYMBOL = "TFENRICH";
const AAPL = SAMPLE_INSTRUMENTS.find((i) => i.symbol === "AAPL")!;
const INSTRUMENTS: Instrument[] = [...SAMPLE_INSTRUMENTS, { ...AAPL, symbol: SYMBOL, baseCurrency: "TFE" }];

const context = { functionName: "EnricherFunction", awsRequestId: "enricher-test" } as Context;
let handler: Handler;
let ssm: SSMClient;
let redis: Redis;
let parameters: Record<string, string>;

const put = (name: string, value: unknown) =>
  ssm.send(new PutParameterCommand({ Name: name, Value: JSON.stringify(value), Type: "String", Overwrite: true }));

async function clearBook(): Promise<void> {
  const keys = await redis.keys(`tf:{${SYMBOL}}:*`);
  if (keys.length > 0) await redis.del(...keys);
}

beforeAll(async () => {
  const stack = await useFunctionEnvironments("itenricher", "EnricherFunction");
  parameters = stack.parameters;
  ssm = new SSMClient({});
  await put(parameters.InstrumentsParameter!, INSTRUMENTS);
  redis = new Redis(process.env.REDIS_URL!);
  await clearBook();
  const engine = new MatchingEngine({ redis, instruments: instrumentRegistry(INSTRUMENTS) });
  const order = { clientId: "C-9", symbol: SYMBOL, type: "LIMIT" } as const;
  for (const [orderId, side, price, quantity] of [
    ["E-1", "BUY", "99.95", "30"],
    ["E-2", "BUY", "99.95", "20"],
    ["E-3", "SELL", "100.10", "15"],
  ] as const) {
    expect((await engine.execute({ ...order, orderId, side, price, quantity })).status).toBe("NEW");
  }
  ({ handler } = (await import("../../functions/enricher/index")) as { handler: Handler });
});

afterAll(async () => {
  await clearBook();
  await redis.quit();
  const { sharedRedis } = await import("@tradeflow/common/redis");
  await (await sharedRedis()).quit();
});

test("an order gets reference data, exact notional and fees, its session and the live top of book", async () => {
  const enrichment = await handler(orderEvent({ symbol: SYMBOL, price: "100.05", quantity: "333" }), context);
  expect(enrichment).toEqual({
    instrument: INSTRUMENTS.at(-1),
    notional: { amount: "33316.65", currency: "USD" },
    // default rates: 1 bps = 3.331665 -> 3.33, 2.5 bps = 8.3291625 -> 8.33
    fees: { currency: "USD", makerBps: "1", takerBps: "2.5", maker: "3.33", taker: "8.33" },
    session: "CONTINUOUS",
    topOfBook: {
      symbol: SYMBOL,
      bid: { price: "99.95", quantity: "50", orders: 2, cumulativeQuantity: "50" },
      ask: { price: "100.1", quantity: "15", orders: 1, cumulativeQuantity: "15" },
      lastTradePrice: null,
    },
    defaulted: [],
  });
  // Read-only: the same event again gives the same enrichment.
  expect(await handler(orderEvent({ symbol: SYMBOL, price: "100.05", quantity: "333" }), context)).toEqual(enrichment);
});

test("sessions and fee rates come from the template's SSM parameters", async () => {
  const aapl = await handler(tradeEvent("alpha"), context);
  expect(aapl).toMatchObject({
    session: "REGULAR",
    notional: { amount: "30050" },
    topOfBook: { bid: null, ask: null },
  });
  const btc = await handler(tradeEvent("beta", { instrument_id: "BTC-USD", quantity_scale: 2 }), context);
  expect(btc).toMatchObject({ session: "CONTINUOUS", fees: { makerBps: "2", takerBps: "5" } });
});

test("a missing fee schedule is defaulted, and everything else still arrives", async () => {
  await ssm.send(new DeleteParameterCommand({ Name: parameters.FeeScheduleParameter! }));
  clearCaches();
  try {
    const enrichment = await handler(orderEvent({ symbol: SYMBOL }), context);
    expect(enrichment.fees).toBeUndefined();
    expect(enrichment.defaulted).toEqual([expect.stringMatching(/^fees: fee-schedule config unavailable: /)]);
    expect(enrichment).toMatchObject({ notional: { amount: "15005" }, topOfBook: { symbol: SYMBOL } });
  } finally {
    await put(parameters.FeeScheduleParameter!, SAMPLE_FEE_SCHEDULE);
    clearCaches();
  }
});

test("Redis down: the top of book is defaulted with why, the rest is enriched", async () => {
  const dead = await connectRedis({
    url: `redis://127.0.0.1:${await freePort()}`,
    authSecretArn: undefined,
    cluster: false,
    commandTimeoutMs: 200,
  });
  try {
    const enrichment = await enrichEvent(orderEvent({ symbol: SYMBOL }), {
      instruments: async () => instrumentRegistry(await loadConfig("instruments", InstrumentListSchema)),
      feeSchedule: () => loadConfig("fee-schedule", FeeScheduleSchema),
      tradingSessions: () => loadConfig("trading-sessions", TradingSessionsSchema),
      topOfBook: topOfBookFromEngine(async () => dead),
    });
    expect(enrichment.topOfBook).toBeUndefined();
    expect(enrichment.defaulted).toEqual([expect.stringMatching(/^topOfBook: redis unavailable: /)]);
    expect(enrichment).toMatchObject({ instrument: { symbol: SYMBOL }, fees: { maker: "1.5" } });
  } finally {
    dead.disconnect();
  }
});

test("no bad input makes the enricher fail", async () => {
  for (const bad of BAD_INPUTS) {
    const enrichment = await handler(bad.input, context);
    expect(EnrichmentSchema.parse(enrichment).defaulted).toEqual([expect.stringMatching(/^event: not a valid/)]);
  }
});
