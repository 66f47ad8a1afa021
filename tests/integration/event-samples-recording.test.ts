// Every `sam local invoke -e` sample in events/recorder and events/alerter, through its real handler against
// DynamoDB Local and moto, held to what events/README.md promises: a sample that no longer keeps it fails here.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DeleteCommand } from "@aws-sdk/lib-dynamodb";
import { parsePriceTick } from "@tradeflow/common/alerts";
import type { RecordSummary } from "@tradeflow/common/contracts";
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { repoRoot } from "../../local/servers";
import { clients, createRecordingStack, drain, lambdaContext, type RecordingStack, scanAll } from "./recording-stack";

let stack: RecordingStack;
let recorder: (event: unknown, context: Context) => Promise<RecordSummary>;
let alerter: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

beforeAll(async () => {
  stack = await createRecordingStack();
  process.env.POWERTOOLS_LOG_LEVEL = "SILENT";
  ({ handler: recorder } = await import("../../functions/recorder/index"));
  ({ handler: alerter } = await import("../../functions/alerter/index"));
});

const samples = (dir: string) =>
  readdirSync(join(repoRoot, "events", dir))
    .filter((f) => f.endsWith(".json"))
    .sort();
const sample = (dir: string, file: string): unknown =>
  JSON.parse(readFileSync(join(repoRoot, "events", dir, file), "utf8"));

describe("events/recorder", () => {
  test.each(samples("recorder"))("%s is recorded, and its replay writes nothing", async (file) => {
    const input = sample("recorder", file);
    expect(await recorder(input, lambdaContext("recorder"))).toMatchObject({ outcome: "RECORDED" });
    const recorded = await scanAll(stack.complianceTable);
    expect(await recorder(input, lambdaContext("recorder"))).toMatchObject({ outcome: "DUPLICATE", written: 0 });
    expect(await scanAll(stack.complianceTable)).toEqual(recorded);
  });
});

describe("events/alerter", () => {
  // Each sample starts from no alert state, so what it raises does not depend on the samples before it.
  beforeEach(async () => {
    const { doc } = clients();
    for (const { pk, sk } of await scanAll(stack.alertsTable)) {
      await doc.send(new DeleteCommand({ TableName: stack.alertsTable, Key: { pk, sk } }));
    }
    await drain(stack.topicObserverUrl);
  });

  /** events/README.md: the alerts each sample raises, as [symbol, direction, threshold], in trade-time order. */
  const PROMISED_ALERTS: Record<string, string[][]> = {
    "poison-message.json": [
      ["AAPL", "UP", "150"],
      ["AAPL", "DOWN", "50"],
    ],
    "tick-from-future.json": [["AAPL", "UP", "150"]],
    "ticks-crossing.json": [
      ["AAPL", "UP", "150"],
      ["AAPL", "DOWN", "50"],
      ["ETH-USD", "DOWN", "50"],
    ],
  };
  const alerts = async () =>
    (await drain(stack.topicObserverUrl)).map((body) => {
      const attributes = (JSON.parse(body) as { MessageAttributes: Record<string, { Value: string }> })
        .MessageAttributes;
      return [attributes.symbol?.Value, attributes.direction?.Value, attributes.threshold?.Value];
    });

  test("every alerter sample has its promised alerts here", () => {
    expect(Object.keys(PROMISED_ALERTS)).toEqual(samples("alerter"));
  });

  test.each(samples("alerter"))(
    "%s raises its alerts and fails exactly its unparseable messages; its redelivery alerts nothing new",
    async (file) => {
      const event = sample("alerter", file) as SQSEvent;
      const unparseable = event.Records.filter((r) => {
        try {
          parsePriceTick(r.body);
          return false;
        } catch {
          return true;
        }
      }).map((r) => r.messageId);
      const failures = async () =>
        (await alerter(event, lambdaContext("alerter"))).batchItemFailures.map((f) => f.itemIdentifier).sort();
      expect(await failures()).toEqual(unparseable.sort());
      expect(await alerts()).toEqual(PROMISED_ALERTS[file]);
      expect(await failures()).toEqual(unparseable.sort());
      expect(await alerts()).toEqual([]);
    },
  );

  test("tick-from-future.json leaves the real tick as AAPL's last price, not the one dated 9999", async () => {
    await alerter(sample("alerter", "tick-from-future.json") as SQSEvent, lambdaContext("alerter"));
    const [state] = (await scanAll(stack.alertsTable)).filter((i) => i.sk === "STATE");
    expect(state).toMatchObject({ pk: "SYMBOL#AAPL", lastPrice: "151", lastTradeId: "AAPL-111", zone: "ABOVE_HIGH" });
  });
});
