// Every input ends somewhere: recorded (a record or a rejection) or in the failed-executions queue.
// - StartExecution with inputs that are not events (a string, an array, null, a number, a partial object): wrapped,
//   judged by the validator as they came and recorded as rejections under the execution's name.
// - DynamoDB Local stopped and started again while an order is recorded: the recorder throws DependencyUnavailable
//   (connection refused, after the SDK's own retries), Record retries it, and the order is recorded once.
// - DynamoDB Local stopped for good while a large rejected event is recorded, and a failed-executions queue whose
//   MaximumMessageSize is below that event: the queue refuses the message, and a truncated copy takes its place.
//
// This suite starts its own stack (its own redis-server, DynamoDB Local and moto): it stops its DynamoDB Local, which
// keeps its database in a directory, so it comes back with every table and item.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StartExecutionCommand } from "@aws-sdk/client-sfn";
import { GetQueueAttributesCommand, SetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { type LocalServer, startDynamoDbLocal } from "../../local/servers";
import { type LocalStack, startLocalStack } from "../../local/stack";
import type { Execution } from "../../local/stepfunctions/workflow";
import {
  drainQueue,
  getItem,
  orderSubmitted,
  type PipelineClients,
  pipelineClients,
  putEvents,
} from "../support/pipeline";

/**
 * Every Task retry waits this long (made constant). Record retries 3 times, so an outage that began before its first
 * attempt may last about 3 × 8 s: enough for DynamoDB Local (a JVM) to start again on a loaded two-core machine.
 */
const TASK_RETRY_MS = 8000;
/** The failed-executions queue's MaximumMessageSize for the refusal: below the large event, above its copy. */
const SMALL_QUEUE_LIMIT = 4096;

let dataDir: string;
let stack: LocalStack;
let c: PipelineClients;
let dynamo: LocalServer;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "tradeflow-outcomes-dynamo-"));
  stack = await startLocalStack({
    stage: "outcomes",
    dynamoDataDir: dataDir,
    timing: { taskRetryMs: TASK_RETRY_MS, eventRetryBaseMs: 10 },
  });
  c = pipelineClients(stack);
  if (!stack.dynamo) throw new Error("the stack started no DynamoDB Local of its own");
  dynamo = stack.dynamo;
}, 180_000);

afterAll(async () => {
  c?.destroy();
  await stack?.stop();
  await dynamo?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const table = () => stack.resources.tables.ComplianceTable ?? "";
const failedQueue = () => stack.resources.queues.FailedExecutionsQueue ?? "";
const stateNames = (e: Execution) => e.trace.map((s) => s.state);
/** The one execution of an event (executionOf in tests/support reads every input as an envelope; some here are not). */
const executionOf = (eventId: string) => {
  const found = stack.machine.list().filter((e) => (JSON.parse(e.input) as { id?: unknown } | null)?.id === eventId);
  expect(found).toHaveLength(1);
  return found[0] as Execution;
};
const retriesOf = (e: Execution, state: string) =>
  e.trace.filter((s) => s.state === state).flatMap((s) => s.retries.map((r) => r.error));

/** The stack's DynamoDB Local, stopped; `restart` starts it again on the same port and database directory. */
async function stopDynamo() {
  const { port } = dynamo;
  await dynamo.stop();
  return {
    restart: async () => {
      dynamo = await startDynamoDbLocal(port, { dataDir });
    },
  };
}

async function untilSettled(): Promise<void> {
  do {
    await stack.bus.idle();
    await stack.machine.idle();
  } while (stack.bus.busy || stack.machine.runningCount > 0);
}

test("inputs that are not events end as rejections recorded under the execution's name", async () => {
  const inputs: Record<string, { input: unknown; reason: string }> = {
    "outcome-string": { input: "hello", reason: "NOT_AN_EVENT" },
    "outcome-array": { input: [1, 2], reason: "NOT_AN_EVENT" },
    "outcome-null": { input: null, reason: "NOT_AN_EVENT" },
    "outcome-number": { input: 42, reason: "NOT_AN_EVENT" },
    "outcome-partial": { input: { id: "partial-1", source: "tradeflow.orders" }, reason: "INVALID_ENVELOPE" },
  };
  for (const [name, { input }] of Object.entries(inputs)) {
    const stateMachineArn = stack.machine.arn;
    await c.sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
  }
  await untilSettled();

  for (const [name, { input, reason }] of Object.entries(inputs)) {
    const execution = stack.machine.list().find((e) => e.name === name);
    expect({ name, status: execution?.status, states: execution && stateNames(execution) }).toEqual({
      name,
      status: "SUCCEEDED",
      states: ["IsEvent", "WrapInput", "ValidateInput", "RecordRejection"],
    });
    const rejection = await getItem(c.doc, table(), `REJECTION#${name}`, "META");
    expect(rejection).toMatchObject({
      entity: "REJECTION",
      stage: "VALIDATION",
      eventId: name,
      reasons: [reason],
      source: "",
      detailType: "",
      detail: typeof input === "string" ? input : JSON.stringify(input),
    });
  }
  expect(await drainQueue(c.sqs, failedQueue())).toEqual([]);
});

test("a DependencyUnavailable while recording is retried, and the order is recorded once", async () => {
  const outage = await stopDynamo();
  // A resting buy: it trades with nothing, so Record writes the order and sends no price tick.
  const order = orderSubmitted(stack.resources.bus, {
    clientId: "outcomes",
    orderId: "OUT-1",
    symbol: "AAPL",
    side: "BUY",
    price: "90.00",
    quantity: "5",
  });
  const [eventId = ""] = await putEvents(c.events, [order]);
  const recordRetried = async () => {
    for (;;) {
      const running = stack.machine.list().find((e) => retriesOf(e, "Record").length > 0);
      if (running) return;
      await sleep(100);
    }
  };
  await recordRetried();
  await outage.restart();
  await untilSettled();

  const execution = executionOf(eventId);
  expect(execution.status).toBe("SUCCEEDED");
  const retries = retriesOf(execution, "Record");
  expect(retries.length).toBeGreaterThan(0);
  expect(new Set(retries)).toEqual(new Set(["DependencyUnavailable"]));
  expect(await getItem(c.doc, table(), "ORDER#OUT-1", "META")).toMatchObject({ status: "NEW", quantity: "5" });
  expect(await drainQueue(c.sqs, failedQueue())).toEqual([]);
}, 120_000);

test("a failed-queue message the queue refuses as too large arrives truncated, without the detail", async () => {
  const QueueUrl = failedQueue();
  const { Attributes } = await c.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["MaximumMessageSize"] }),
  );
  await c.sqs.send(
    new SetQueueAttributesCommand({ QueueUrl, Attributes: { MaximumMessageSize: String(SMALL_QUEUE_LIMIT) } }),
  );
  const outage = await stopDynamo();
  try {
    // Rejected as PAYLOAD_TOO_LARGE (over 8 KiB); recording the rejection fails, the event goes to the failed queue.
    const detail = { clientId: "outcomes", orderId: "OUT-BIG", symbol: "AAPL", side: "BUY", note: "x".repeat(9000) };
    const entry = {
      EventBusName: stack.resources.bus,
      Source: "tradeflow.orders",
      DetailType: "Order Submitted",
      Detail: JSON.stringify(detail),
    };
    const [eventId = ""] = await putEvents(c.events, [entry]);
    await untilSettled();

    const execution = executionOf(eventId);
    expect(execution).toMatchObject({ status: "FAILED", error: "TradeflowEventFailed" });
    expect(stateNames(execution).slice(-4)).toEqual([
      "RecordRejection",
      "SendToFailedQueue",
      "SendTruncatedToFailedQueue",
      "Failed",
    ]);
    expect(retriesOf(execution, "RecordRejection")).toEqual(Array(3).fill("DependencyUnavailable"));
    expect(retriesOf(execution, "SendToFailedQueue")).toEqual(Array(3).fill("SQS.InvalidParameterValue"));

    const messages = await drainQueue(c.sqs, QueueUrl);
    expect(messages).toHaveLength(1);
    const body = JSON.parse(messages[0]?.Body ?? "null");
    expect(body).toEqual({
      event: {
        id: eventId,
        source: "tradeflow.orders",
        "detail-type": "Order Submitted",
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
      error: { Error: "DependencyUnavailable", Cause: expect.stringMatching(/ECONNREFUSED/) },
      truncated: true,
      sendError: {
        Error: "SQS.InvalidParameterValue",
        Cause: expect.stringContaining(`Message must be shorter than ${SMALL_QUEUE_LIMIT} bytes`),
      },
      execution: execution.executionArn,
    });
    expect(Buffer.byteLength(messages[0]?.Body ?? "")).toBeLessThan(SMALL_QUEUE_LIMIT);
  } finally {
    await outage.restart();
    await c.sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: { ...Attributes } }));
  }
}, 180_000);
