// The put-events samples through the whole local stack (bus, workflow, Redis, tables, alert queue and topic), in
// the order events/README.md lists them, each held to the outcome it promises there. Needs `npm run build`.
import type { LocalStack } from "../../local/stack";
import {
  drainQueue,
  executionOf,
  getItem,
  harnessStack,
  type PipelineClients,
  pipelineClients,
  putAndSettle,
  sampleEntries,
  snsNotification,
} from "../support/pipeline";
import { REDIS_DB } from "../support/redis-db";

let stack: LocalStack;
let c: PipelineClients;

const table = (logicalId: string) => stack.resources.tables[logicalId] ?? "";
const meta = (pk: string) => getItem(c.doc, table("ComplianceTable"), pk, "META");
const alertState = () => getItem(c.doc, table("AlertsTable"), "SYMBOL#AAPL", "STATE");
const published = async () =>
  (await drainQueue(c.sqs, stack.topicInboxes.AlertTopic ?? "")).map((m) => snsNotification(m));

/** Puts the sample's entries, waits for the stack to settle; every execution succeeded. Returns the event ids. */
async function send(file: string): Promise<string[]> {
  const ids = await putAndSettle(stack, c.events, sampleEntries(file, stack.resources.bus));
  expect(ids.map((id) => executionOf(stack, id).status)).toEqual(ids.map(() => "SUCCEEDED"));
  return ids;
}

beforeAll(async () => {
  stack = await harnessStack("samples", REDIS_DB.samplesPipeline);
  c = pipelineClients(stack);
}, 120_000);

afterAll(async () => {
  c?.destroy();
  await stack?.stop();
});

test("orders-crossing.json: one trade of 60 at 150.00, and 40 of O-1001 rest", async () => {
  await send("orders-crossing.json");
  expect(await meta("ORDER#O-2002")).toMatchObject({ status: "FILLED", filledQuantity: "60" });
  expect(await meta("ORDER#O-1001")).toMatchObject({ status: "PARTIALLY_FILLED", remainingQuantity: "40" });
  expect(await alertState()).toMatchObject({ lastTradeId: "AAPL-1", lastPrice: "150", zone: "BETWEEN" });
});

test("order-amend.json takes O-1001's total down to 80 in place; order-cancel.json cancels its 20", async () => {
  await send("order-amend.json");
  expect(await meta("ORDER#O-1001")).toMatchObject({ quantity: "80", filledQuantity: "60", remainingQuantity: "20" });
  await send("order-cancel.json");
  expect(await meta("ORDER#O-1001")).toMatchObject({ status: "CANCELLED", cancelledQuantity: "20" });
});

test("order-cancel-all.json: C-1001's kill switch goes through with nothing left to cancel", async () => {
  const before = await meta("ORDER#O-1001");
  await send("order-cancel-all.json");
  expect(await meta("ORDER#O-1001")).toEqual(before);
});

test("trades-alert-threshold.json: a trade at 150.25 publishes one alert above 150", async () => {
  await published();
  await send("trades-alert-threshold.json");
  for (const orderId of ["O-5001", "O-6001"]) {
    expect(await meta(`ORDER#${orderId}`)).toMatchObject({ status: "FILLED", filledQuantity: "10" });
  }
  const alerts = await published();
  expect(alerts.map((a) => a.attributes)).toEqual([
    expect.objectContaining({ symbol: "AAPL", direction: "UP", threshold: "150", zone: "ABOVE_HIGH" }),
  ]);
  expect(alerts[0]?.message).toMatchObject({ price: "150.25", tradeId: "AAPL-2", fromZone: "BETWEEN" });
});

test.each([
  ["trade-alpha.json", "alpha:A-77001", "150.25"],
  ["trade-beta.json", "beta:B-5521", "150.2"],
  ["trade-gamma.json", "gamma:T12345", "150.05"],
])("%s is recorded as %s; older than the engine's trades, it moves no alert state", async (file, tradeId, price) => {
  const before = await alertState();
  await send(file);
  expect(await meta(`TRADE#${tradeId}`)).toMatchObject({ entity: "TRADE", origin: "VENUE", price });
  expect(await alertState()).toEqual(before);
  expect(await published()).toEqual([]);
});

test.each([
  ["rejected-order.json", "PRICE_OFF_TICK"],
  ["rejected-trade-from-future.json", "INVALID_TIMESTAMP"],
])("%s is recorded as a rejection for %s, and moves nothing", async (file, reason) => {
  const before = await alertState();
  const [eventId] = await send(file);
  expect(await meta(`REJECTION#${eventId}`)).toMatchObject({ stage: "VALIDATION", reasons: [reason] });
  expect(await meta("ORDER#O-1009")).toBeUndefined();
  expect(await meta("TRADE#alpha:A-99999")).toBeUndefined();
  expect(await alertState()).toEqual(before);
  expect(await published()).toEqual([]);
});
