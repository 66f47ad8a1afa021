// Every sample in events/validator, events/enricher and events/put-events through the real Validator and Enricher
// handlers, so that the samples cannot rot. Files named rejected-*.json must be rejected; all others must pass.
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  type Enrichment,
  EnrichmentSchema,
  type ValidatedEvent,
  ValidatedEventSchema,
} from "@tradeflow/common/contracts";
import { compareDecimal, formatScaled } from "@tradeflow/common/decimal";
import type { Context } from "aws-lambda";
import { z } from "zod";
import { useFunctionEnvironments } from "../support/function-environment";

type Handler<R> = (event: unknown, context: Context) => Promise<R>;

const context = { functionName: "samples", awsRequestId: "samples-test" } as Context;
let validate: Handler<ValidatedEvent>;
let enrich: Handler<Enrichment>;

const samples = (dir: string) =>
  readdirSync(join("events", dir))
    .filter((f) => f.endsWith(".json"))
    .map((f) => [join("events", dir, f), f.startsWith("rejected-")] as const);

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

async function expectOutcome(event: unknown, rejected: boolean): Promise<void> {
  const outcome = await validate(event, context).then(
    (v) => ValidatedEventSchema.parse(v),
    (err: unknown) => (err instanceof Error ? err.name : String(err)),
  );
  const enrichment = EnrichmentSchema.parse(await enrich(event, context));
  if (rejected) {
    expect(outcome).toBe("ValidationRejected");
    return;
  }
  if (typeof outcome === "string") throw new Error(`${outcome}: expected the sample to pass`);
  // Only a market order may lack something (its price); everything else is fully enriched.
  const market = outcome.kind === "ORDER_SUBMIT" && outcome.order.type === "MARKET";
  expect(enrichment.defaulted).toEqual(market ? MARKET_ORDER_DEFAULTS : []);
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

test("there are samples of every kind, and one to be rejected in each folder", () => {
  for (const dir of ["validator", "enricher", "put-events"]) {
    expect(samples(dir).filter(([, rejected]) => rejected).length).toBeGreaterThan(0);
    expect(samples(dir).filter(([, rejected]) => !rejected).length).toBeGreaterThan(0);
  }
});

test.each([...samples("validator"), ...samples("enricher")])("%s (sam local invoke -e)", async (file, rejected) => {
  await expectOutcome(JSON.parse(readFileSync(file, "utf8")), rejected);
});

test.each(samples("put-events"))("%s (aws events put-events --entries)", async (file, rejected) => {
  const entries = PutEventsEntries.parse(JSON.parse(readFileSync(file, "utf8")));
  for (const entry of entries) await expectOutcome(delivered(entry), rejected);
});

test("the crossing orders cross and the alert samples cross the default high threshold of 150", () => {
  const details = (file: string) =>
    PutEventsEntries.parse(JSON.parse(readFileSync(join("events", "put-events", file), "utf8"))).map(
      (e) => JSON.parse(e.Detail) as Record<string, unknown>,
    );
  const [sell, buy] = details("orders-crossing.json");
  expect([sell?.side, buy?.side]).toEqual(["SELL", "BUY"]);
  expect(compareDecimal(String(buy?.price), String(sell?.price))).toBe(1);
  const [below, above] = details("trades-alert-threshold.json");
  expect(compareDecimal(String(below?.price), "150")).toBe(-1);
  expect(compareDecimal(formatScaled(BigInt(Number(above?.price_minor)), Number(above?.price_scale)), "150")).toBe(1);
});
