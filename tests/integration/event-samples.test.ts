// Every sample in events/validator, events/enricher and events/put-events through the real Validator and Enricher
// handlers, each held to what events/README.md promises: the validated command or trade, or the reasons it is
// refused for (files named rejected-*.json). The put-events samples' effects on the stack: event-samples-pipeline.
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  type Enrichment,
  EnrichmentSchema,
  parseRejectionCause,
  type ReasonCode,
  type ValidatedEvent,
  ValidatedEventSchema,
} from "@tradeflow/common/contracts";
import type { Context } from "aws-lambda";
import { z } from "zod";
import { useFunctionEnvironments } from "../support/function-environment";

type Handler<R> = (event: unknown, context: Context) => Promise<R>;

const context = { functionName: "samples", awsRequestId: "samples-test" } as Context;
let validate: Handler<ValidatedEvent>;
let enrich: Handler<Enrichment>;

const DIRS = ["validator", "enricher", "put-events"] as const;
const samples = (dir: (typeof DIRS)[number]) =>
  readdirSync(join("events", dir))
    .filter((f) => f.endsWith(".json"))
    .map((f) => join(dir, f));

type Promised = { readonly passes: readonly Record<string, unknown>[] } | { readonly rejected: readonly ReasonCode[] };

const order = (orderId: string, command: Record<string, unknown>) => ({
  kind: "ORDER_SUBMIT",
  order: { orderId },
  command: { orderId, ...command },
});
const trade = (tradeId: string, price: string, quantity: string) => ({
  kind: "TRADE",
  trade: { tradeId, price, quantity },
});

/** events/README.md, as values: one expected result per event of the file, or the reasons for refusing it. */
const PROMISED: Record<string, Promised> = {
  "validator/order-submitted-limit-buy.json": {
    passes: [order("O-1001", { type: "LIMIT", side: "BUY", symbol: "AAPL", price: "150.05", quantity: "100" })],
  },
  "validator/order-submitted-market-sell.json": {
    passes: [order("O-2003", { type: "MARKET", side: "SELL", symbol: "AAPL", quantity: "40" })],
  },
  "validator/order-amend-requested.json": {
    passes: [{ kind: "ORDER_AMEND", command: { type: "AMEND", orderId: "O-1001", price: "150.1", quantity: "120" } }],
  },
  "validator/order-cancel-requested.json": {
    passes: [{ kind: "ORDER_CANCEL", command: { type: "CANCEL", orderId: "O-1001", clientId: "C-1001" } }],
  },
  "validator/order-cancel-all-requested.json": {
    passes: [{ kind: "ORDER_CANCEL_ALL", command: { type: "CANCEL_ALL", clientId: "C-1001" } }],
  },
  "validator/trade-reported-alpha.json": { passes: [trade("alpha:A-77001", "150.25", "200")] },
  "validator/trade-reported-beta.json": { passes: [trade("beta:B-5521", "150.2", "50")] },
  "validator/trade-reported-gamma.json": { passes: [trade("gamma:T12345", "150.05", "10")] },
  "validator/rejected-malformed-detail.json": { rejected: ["MALFORMED_DETAIL"] },
  "validator/rejected-price-off-tick.json": { rejected: ["PRICE_OFF_TICK"] },
  "validator/rejected-time-in-future.json": { rejected: ["INVALID_TIMESTAMP"] },
  "enricher/order-submitted-btc-usd.json": {
    passes: [order("O-3001", { type: "LIMIT", symbol: "BTC-USD", price: "64250.5", quantity: "0.25" })],
  },
  "enricher/trade-reported-beta-eth-usd.json": { passes: [{ kind: "TRADE", trade: { symbol: "ETH-USD" } }] },
  "enricher/rejected-quantity-too-large.json": { rejected: ["QUANTITY_TOO_LARGE"] },
  "put-events/orders-crossing.json": {
    passes: [
      order("O-2002", { side: "SELL", price: "150", quantity: "60" }),
      order("O-1001", { side: "BUY", price: "150.05", quantity: "100" }),
    ],
  },
  "put-events/order-amend.json": { passes: [{ kind: "ORDER_AMEND", command: { orderId: "O-1001", quantity: "80" } }] },
  "put-events/order-cancel.json": { passes: [{ kind: "ORDER_CANCEL", command: { orderId: "O-1001" } }] },
  "put-events/order-cancel-all.json": { passes: [{ kind: "ORDER_CANCEL_ALL", command: { clientId: "C-1001" } }] },
  "put-events/trade-alpha.json": { passes: [trade("alpha:A-77001", "150.25", "200")] },
  "put-events/trade-beta.json": { passes: [trade("beta:B-5521", "150.2", "50")] },
  "put-events/trade-gamma.json": { passes: [trade("gamma:T12345", "150.05", "10")] },
  "put-events/trades-alert-threshold.json": {
    passes: [
      order("O-5001", { side: "SELL", price: "150.25", quantity: "10" }),
      order("O-6001", { side: "BUY", price: "150.25", quantity: "10" }),
    ],
  },
  "put-events/rejected-order.json": { rejected: ["PRICE_OFF_TICK"] },
  "put-events/rejected-trade-from-future.json": { rejected: ["INVALID_TIMESTAMP"] },
};

const PutEventsEntries = z
  .array(
    z.strictObject({
      Source: z.string(),
      DetailType: z.string(),
      Detail: z.string(),
      EventBusName: z.literal("tradeflow-dev"),
      Resources: z.array(z.string()).optional(),
    }),
  )
  .min(1);

/** What a rule target receives for a put-events entry. EventBridge refuses an entry whose Detail is not JSON. */
function delivered(entry: z.infer<typeof PutEventsEntries>[number]) {
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": entry.DetailType,
    source: entry.Source,
    account: "123456789012",
    time: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    region: "us-east-1",
    resources: entry.Resources ?? [],
    detail: JSON.parse(entry.Detail) as unknown,
  };
}

const MARKET_ORDER_DEFAULTS = ["notional: a market order has no price", "fees: no notional to charge on"];

/** The validator's result (or its refusal's reasons) and the enricher's, which never refuses. */
async function outcomeOf(event: unknown): Promise<ValidatedEvent | readonly ReasonCode[]> {
  const validated = await validate(event, context).then(
    (v) => ValidatedEventSchema.parse(v),
    (err: unknown) => {
      const cause = err instanceof Error && err.name === "ValidationRejected" ? parseRejectionCause(err.message) : null;
      if (!cause) throw err;
      return cause.reasons;
    },
  );
  const enrichment = EnrichmentSchema.parse(await enrich(event, context));
  if (!Array.isArray(validated)) {
    // Only a market order may lack something (its price); everything else is fully enriched.
    const market = "order" in validated && validated.order.type === "MARKET";
    expect(enrichment.defaulted).toEqual(market ? MARKET_ORDER_DEFAULTS : []);
  }
  return validated;
}

async function expectPromise(file: string, events: readonly unknown[]): Promise<void> {
  const promised = PROMISED[file];
  if (!promised) throw new Error(`${file} has no promise in this test (and events/README.md)`);
  const outcomes = [];
  for (const event of events) outcomes.push(await outcomeOf(event));
  if ("rejected" in promised) expect(outcomes).toEqual(events.map(() => promised.rejected));
  // Partial at every level: a promise names only the fields it is about.
  else expect(outcomes).toMatchObject(promised.passes);
}

beforeAll(async () => {
  await useFunctionEnvironments("itsamples", "ValidatorFunction", "EnricherFunction");
  ({ handler: validate } = (await import("../../functions/validator/index")) as { handler: Handler<ValidatedEvent> });
  ({ handler: enrich } = (await import("../../functions/enricher/index")) as { handler: Handler<Enrichment> });
});

afterAll(async () => {
  const { sharedRedis } = await import("@tradeflow/common/redis");
  await (await sharedRedis()).quit();
});

test("every sample has a promise, and every promise a sample; rejected-* files are the rejected ones", () => {
  const files = DIRS.flatMap(samples);
  expect(Object.keys(PROMISED).sort()).toEqual([...files].sort());
  for (const file of files) expect("rejected" in PROMISED[file]!).toBe(file.split("/")[1]!.startsWith("rejected-"));
});

test.each([...samples("validator"), ...samples("enricher")])("%s (sam local invoke -e)", async (file) => {
  await expectPromise(file, [JSON.parse(readFileSync(join("events", file), "utf8"))]);
});

test.each(samples("put-events"))("%s (aws events put-events --entries)", async (file) => {
  const entries = PutEventsEntries.parse(JSON.parse(readFileSync(join("events", file), "utf8")));
  await expectPromise(file, entries.map(delivered));
});
