// The alerter against DynamoDB Local (AlertsTable) and moto (SSM thresholds and clock skew, SNS topic observed via SQS).
import { ProvisionedThroughputExceededException } from "@aws-sdk/client-dynamodb";
import { PublishCommand, SNSClient, ThrottledException } from "@aws-sdk/client-sns";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import type { AlerterDeps, PriceTick } from "@tradeflow/common/alerts";
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import fc from "fast-check";
import { clients, createRecordingStack, drain, lambdaContext, type RecordingStack, scanAll } from "./recording-stack";

let stack: RecordingStack;
let alerter: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
const handler = (event: SQSEvent) => alerter(event, lambdaContext("alerter"));
let alerts: typeof import("@tradeflow/common/alerts");

beforeAll(async () => {
  stack = await createRecordingStack();
  process.env.POWERTOOLS_LOG_LEVEL = "SILENT";
  // Imported after the endpoints are set: the handler builds its clients at load time.
  ({ handler: alerter } = await import("../../functions/alerter/index"));
  alerts = await import("@tradeflow/common/alerts");
});

let nextTrade = 0;
const tick = (symbol: string, price: string, timestamp: number, extra: Partial<PriceTick> = {}): PriceTick => ({
  symbol,
  price,
  tradeId: `${symbol}-${++nextTrade}`,
  timestamp,
  source: "tradeflow.orders",
  ...extra,
});

const sqsEvent = (bodies: string[]): SQSEvent => ({
  Records: bodies.map((body, i) => ({
    messageId: `m-${i}`,
    receiptHandle: `r-${i}`,
    body,
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: "0",
      SenderId: "test",
      ApproximateFirstReceiveTimestamp: "0",
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:us-east-1:123456789012:alert-queue",
    awsRegion: "us-east-1",
  })),
});

const ticksEvent = (ticks: PriceTick[]) => sqsEvent(ticks.map((t) => JSON.stringify(t)));

interface Published {
  message: { symbol: string; direction: string; threshold: string; price: string; tradeId: string };
  attributes: Record<string, string>;
}

async function published(): Promise<Published[]> {
  return (await drain(stack.topicObserverUrl)).map((body) => {
    const envelope = JSON.parse(body) as { Message: string; MessageAttributes: Record<string, { Value: string }> };
    return {
      message: JSON.parse(envelope.Message),
      attributes: Object.fromEntries(Object.entries(envelope.MessageAttributes).map(([k, v]) => [k, v.Value])),
    };
  });
}

const alertItems = async (symbol: string) =>
  (await scanAll(stack.alertsTable)).filter((i) => i.pk === `SYMBOL#${symbol}` && String(i.sk).startsWith("ALERT#"));

function deps(overrides: Partial<AlerterDeps> = {}): AlerterDeps {
  const { doc, sns } = clients();
  return {
    db: doc,
    sns,
    tableName: stack.alertsTable,
    topicArn: stack.alertTopicArn,
    thresholds: { default: { high: "150", low: "50" }, symbols: {} },
    clockSkew: { maxFutureSeconds: 300 },
    ttlDays: 30,
    publishGraceMs: 0,
    now: Date.now,
    ...overrides,
  };
}

describe("alerter handler", () => {
  test("alerts once per crossing, with filterable attributes, and a redelivered batch changes nothing", async () => {
    const batch = ticksEvent([
      tick("AAPL", "100", 1_000),
      tick("AAPL", "150", 2_000),
      tick("AAPL", "150.01", 3_000), // crosses 150 upwards
      tick("AAPL", "170", 4_000), // still above: no alert
      tick("AAPL", "49.99", 5_000), // from above high straight below low
      tick("AAPL", "50", 6_000), // back between, crossing 50 upwards
    ]);
    await drain(stack.topicObserverUrl);

    expect(await handler(batch)).toEqual({ batchItemFailures: [] });

    const first = await published();
    expect(
      first.map((p) => [p.attributes.direction, p.attributes.zone, p.attributes.threshold, p.message.price]),
    ).toEqual([
      ["UP", "ABOVE_HIGH", "150", "150.01"],
      ["DOWN", "BELOW_LOW", "50", "49.99"],
      ["UP", "BETWEEN", "50", "50"],
    ]);
    expect(first.every((p) => p.attributes.symbol === "AAPL" && p.attributes.alertId)).toBe(true);
    const items = await alertItems("AAPL");
    expect(items).toHaveLength(3);
    const nowSeconds = Date.now() / 1000;
    for (const item of items) {
      expect(item.publishedAt).toEqual(expect.any(Number));
      expect(item.expiresAt).toBeGreaterThan(nowSeconds + 89 * 86_400);
    }

    const before = await scanAll(stack.alertsTable);
    expect(await handler(batch)).toEqual({ batchItemFailures: [] });
    expect(await scanAll(stack.alertsTable)).toEqual(before);
    expect(await published()).toEqual([]);
  });

  test("applies a batch in trade-time order whatever order it arrives in", async () => {
    const ticks = [tick("ETH-USD", "120", 1_000), tick("ETH-USD", "160", 2_000), tick("ETH-USD", "140", 3_000)];
    await drain(stack.topicObserverUrl);
    expect(await handler(ticksEvent([ticks[2]!, ticks[0]!, ticks[1]!]))).toEqual({ batchItemFailures: [] });
    expect((await published()).map((p) => p.attributes.direction)).toEqual(["UP", "DOWN"]);
  });

  test("a poison message fails only its own item", async () => {
    const event = sqsEvent([
      JSON.stringify(tick("POISON-OK", "151", 1_000)),
      '{"symbol":"AAPL","price":',
      JSON.stringify(tick("POISON-OK", "152", 2_000)),
      JSON.stringify({ ...tick("POISON-OK", "1", 3_000), price: "1e309" }),
    ]);
    const response = await handler(event);
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(["m-1", "m-3"]);
    expect(await alertItems("POISON-OK")).toHaveLength(1);
  });

  test("a batch of nothing but poison reports every item instead of throwing", async () => {
    const response = await handler(sqsEvent(["not json", "{}", JSON.stringify({ price: "NaN" })]));
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(["m-0", "m-1", "m-2"]);
  });

  test("takes per-symbol thresholds from SSM", async () => {
    await drain(stack.topicObserverUrl);
    await handler(ticksEvent([tick("BTC-USD", "60000", 1_000), tick("BTC-USD", "70000.01", 2_000)]));
    expect((await published()).map((p) => [p.attributes.symbol, p.attributes.threshold])).toEqual([
      ["BTC-USD", "70000"],
    ]);
  });

  test("a tick dated 9999-12-31 is dropped: no failure, no alert, no state, and later ticks still alert", async () => {
    await drain(stack.topicObserverUrl);
    const future = tick("FUTURE", "200", Date.UTC(9999, 11, 31, 23, 59, 59));
    expect(await handler(ticksEvent([future]))).toEqual({ batchItemFailures: [] });
    expect(await published()).toEqual([]);
    expect((await scanAll(stack.alertsTable)).filter((i) => i.pk === "SYMBOL#FUTURE")).toEqual([]);

    // Today's ticks after it: the first crossing alerts and becomes the last price.
    const now = Date.now();
    const today = [tick("FUTURE", "120", now - 2_000), tick("FUTURE", "151", now - 1_000)];
    expect(await handler(ticksEvent([future, ...today]))).toEqual({ batchItemFailures: [] });
    expect((await published()).map((p) => [p.message.tradeId, p.attributes.direction])).toEqual([
      [today[1]!.tradeId, "UP"],
    ]);
    const { doc } = clients();
    const state = await doc.send(
      new GetCommand({ TableName: stack.alertsTable, Key: { pk: "SYMBOL#FUTURE", sk: "STATE" } }),
    );
    expect(state.Item).toMatchObject({ lastPrice: "151", lastTradeId: today[1]!.tradeId, zone: "ABOVE_HIGH" });
  });

  test("DynamoDB throttling that outlasts the SDK's retries fails the item, not the invocation", async () => {
    const mock = mockClient(DynamoDBDocumentClient);
    try {
      mock
        .onAnyCommand()
        .rejects(
          new ProvisionedThroughputExceededException({ message: "slow down", $metadata: { httpStatusCode: 400 } }),
        );
      const event = ticksEvent([tick("THROTTLED", "151", 1_000)]);
      expect(await handler(event)).toEqual({ batchItemFailures: [{ itemIdentifier: "m-0" }] });
      expect(mock.commandCalls(GetCommand)).toHaveLength(1);
    } finally {
      mock.restore();
    }
  });

  test("SNS throttling fails the item and leaves the alert recorded for the redelivery to publish", async () => {
    const mock = mockClient(SNSClient);
    try {
      mock
        .on(PublishCommand)
        .rejects(new ThrottledException({ message: "rate exceeded", $metadata: { httpStatusCode: 400 } }));
      const crossing = tick("SNS-THROTTLED", "151", 1_000);
      expect(await handler(ticksEvent([crossing]))).toEqual({ batchItemFailures: [{ itemIdentifier: "m-0" }] });
      const { doc } = clients();
      const stored = await doc.send(new GetCommand({ TableName: stack.alertsTable, Key: alerts.alertKey(crossing) }));
      expect(stored.Item).toMatchObject({ direction: "UP", threshold: "150" });
      expect(stored.Item?.publishedAt).toBeUndefined();
    } finally {
      mock.restore();
    }
  });
});

describe("processTick", () => {
  test("a duplicate or older tick raises no second alert", async () => {
    const d = deps();
    const crossing = tick("DUP", "200", 5_000);
    expect(await alerts.processTick(crossing, d)).toBe("ALERTED");
    expect(await alerts.processTick(crossing, d)).toBe("IGNORED");
    expect(await alerts.processTick(tick("DUP", "10", 4_000), d)).toBe("IGNORED");
    expect(await alertItems("DUP")).toHaveLength(1);
  });

  test("the clock skew is read from now: a tick at the edge is applied, a millisecond later it is not", async () => {
    const now = 1_900_000_000_000;
    const d = deps({ now: () => now, clockSkew: { maxFutureSeconds: 60 } });
    expect(await alerts.processTick(tick("EDGE", "151", now + 60_001), d)).toBe("FROM_FUTURE");
    expect(await alertItems("EDGE")).toEqual([]);
    expect(await alerts.processTick(tick("EDGE", "151", now + 60_000), d)).toBe("ALERTED");
    expect(await alerts.processTick(tick("EDGE", "40", now + 60_001), d)).toBe("FROM_FUTURE");
    expect((await alertItems("EDGE")).map((i) => i.price)).toEqual(["151"]);
  });

  test("concurrent deliveries of the same crossing tick alert exactly once", async () => {
    await drain(stack.topicObserverUrl);
    const d = deps({ publishGraceMs: 60_000 });
    const crossing = tick("RACE", "155", 1_000);
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => alerts.processTick(crossing, d)));
    const fulfilled = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    expect(fulfilled.filter((o) => o === "ALERTED")).toHaveLength(1);
    // Losers either saw the published alert or were told to come back while it was being published.
    for (const o of outcomes) {
      if (o.status === "rejected") expect(o.reason).toBeInstanceOf(alerts.AlertPublishPending);
      else expect(["ALERTED", "IGNORED"]).toContain(o.value);
    }
    expect((await published()).filter((p) => p.attributes.symbol === "RACE")).toHaveLength(1);
    expect(await alertItems("RACE")).toHaveLength(1);
  });

  test("an alert whose publish failed is published by the tick's redelivery, once", async () => {
    await drain(stack.topicObserverUrl);
    const crossing = tick("OUTBOX", "151", 1_000);
    const missingTopic = `${stack.alertTopicArn}-missing`;
    await expect(alerts.processTick(crossing, deps({ topicArn: missingTopic }))).rejects.toThrow();
    const key = alerts.alertKey(crossing);
    const { doc } = clients();
    const written = await doc.send(new GetCommand({ TableName: stack.alertsTable, Key: key }));
    expect(written.Item).toMatchObject({ direction: "UP", threshold: "150" });
    expect(written.Item?.publishedAt).toBeUndefined();

    expect(await alerts.processTick(crossing, deps())).toBe("REPUBLISHED");
    expect(await alerts.processTick(crossing, deps())).toBe("IGNORED");
    expect((await published()).map((p) => p.message.tradeId)).toEqual([crossing.tradeId]);
  });

  test("within the grace period a redelivery leaves the unpublished alert to its writer", async () => {
    const crossing = tick("GRACE", "151", 1_000);
    await expect(
      alerts.processTick(crossing, deps({ topicArn: `${stack.alertTopicArn}-missing`, publishGraceMs: 60_000 })),
    ).rejects.toThrow();
    await expect(alerts.processTick(crossing, deps({ publishGraceMs: 60_000 }))).rejects.toBeInstanceOf(
      alerts.AlertPublishPending,
    );
  });

  test("random tick streams with duplicates and stale ticks alert exactly at the crossings of the in-order stream", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        async (prices, replays) => {
          const symbol = `PROP-${++run}`;
          const ticks = prices.map((p, i) => tick(symbol, String(p), 1_000 * (i + 1)));
          // Deliver in order, re-delivering some earlier tick after each replay point.
          const d = deps();
          for (const [i, t] of ticks.entries()) {
            await alerts.processTick(t, d);
            const replay = replays[i];
            if (replay !== undefined) await alerts.processTick(ticks[replay % (i + 1)]!, d);
          }
          const zone = (p: number) => (p > 150 ? 2 : p < 50 ? 0 : 1);
          const expected = prices.flatMap((p, i) =>
            zone(p) !== zone(i === 0 ? 100 : prices[i - 1]!) ? [ticks[i]!.tradeId] : [],
          );
          const items = await alertItems(symbol);
          expect(items.map((i) => i.tradeId).sort()).toEqual([...expected].sort());
        },
      ),
      { numRuns: 25 },
    );
  });
});
