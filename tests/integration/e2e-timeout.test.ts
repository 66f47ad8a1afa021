// The recorder times out. DynamoDB Local is frozen (SIGSTOP) while orders go through PutEvents, so every Record
// that reaches it hangs past the recorder's Timeout: Lambda ends the invocation with Sandbox.Timedout (the local
// runtime ends its container), and the ASL retries it. The frozen server is then resumed (SIGCONT) and also
// completes the writes of the invocations that timed out. Record is idempotent, so every event ends up recorded
// exactly once (the same items as an event recorded without a fault), every execution succeeds, and nothing
// reaches the failed-executions queue.
//
// This suite starts its own stack (its own redis-server, DynamoDB Local and moto): it freezes its DynamoDB Local.
// The recorder's Timeout is shortened for the run (a runtime option) so that the test takes seconds, not minutes.
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import type { LocalServer } from "../../local/servers";
import { type LocalStack, startLocalStack } from "../../local/stack";
import type { Execution } from "../../local/stepfunctions/workflow";
import { accountEvents } from "../support/faults";
import {
  executionOf,
  executionsOf,
  type Item,
  orderSubmitted,
  type PipelineClients,
  pipelineClients,
  putAndRun,
  putEvents,
} from "../support/pipeline";

/**
 * The recorder's Timeout for this run. A retry after a timeout starts a fresh (cold) container, whose first
 * invocation on this two-core machine competes with the other cold starts for CPU: 4 s leaves it room.
 */
const RECORDER_TIMEOUT_SECONDS = 4;
const WARM_UP = 6;
/** As many as the warm-up left warm recorder containers at most, so that the frozen Records start together. */
const FROZEN = 6;

let stack: LocalStack;
let c: PipelineClients;
let dynamo: LocalServer;

beforeAll(async () => {
  stack = await startLocalStack({
    stage: "timeout",
    timing: {
      taskRetryMs: 200,
      eventRetryBaseMs: 10,
      functionTimeoutSeconds: { RecorderFunction: RECORDER_TIMEOUT_SECONDS },
    },
  });
  c = pipelineClients(stack);
  if (!stack.dynamo) throw new Error("the stack started no DynamoDB Local of its own");
  dynamo = stack.dynamo;
}, 180_000);

afterAll(async () => {
  dynamo?.process.kill("SIGCONT");
  c?.destroy();
  await stack?.stop();
});

/** Resting buy orders of one client: none crosses another, so each order's record is its submit alone. */
const orders = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({
    orderId: `TMO-${from + i}`,
    entry: orderSubmitted(stack.resources.bus, {
      clientId: "timeout-client",
      orderId: `TMO-${from + i}`,
      symbol: "AAPL",
      side: "BUY",
      price: (90 + (from + i) / 100).toFixed(2),
      quantity: "10",
    }),
  }));

const LambdaFailure = z.object({
  lambdaFunctionFailedEventDetails: z.object({ error: z.string(), cause: z.string() }),
});

const recordState = (e: Execution) => e.trace.find((s) => s.state === "Record");

async function until(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(50);
  }
}

it("a Record timed out by a frozen DynamoDB is retried, and every event is recorded exactly once", async () => {
  const timeoutMs = (stack.functions.find("RecorderFunction")?.timeoutSeconds ?? 0) * 1000;
  expect(timeoutMs).toBe(RECORDER_TIMEOUT_SECONDS * 1000);

  // Warm containers and a warm DynamoDB Local first: these events record without a fault.
  const warm = orders(0, WARM_UP);
  const warmIds = await putAndRun(
    stack,
    c.events,
    warm.map((o) => o.entry),
  );

  const frozen = orders(WARM_UP, FROZEN);
  dynamo.process.kill("SIGSTOP");
  const frozenAt = Date.now();
  const frozenIds = await putEvents(
    c.events,
    frozen.map((o) => o.entry),
  );
  // Resume once every frozen event's Record has failed at least once.
  const recordFailed = (id: string) => {
    const [execution] = executionsOf(stack, id);
    const record = execution && recordState(execution);
    return record !== undefined && (record.failed ?? record.caught ?? record.retries[0]) !== undefined;
  };
  await until("every Record on the frozen DynamoDB Local timed out", () => frozenIds.every(recordFailed), 30_000);
  dynamo.process.kill("SIGCONT");
  expect(Date.now() - frozenAt).toBeGreaterThan(timeoutMs);
  await stack.idle();

  // Every execution succeeded; each Record on the frozen server timed out and was retried.
  const executions = [...warmIds, ...frozenIds].map((id) => executionOf(stack, id));
  // (What went wrong, state by state, is in the message if this fails.)
  const unsuccessful = executions.filter((e) => e.status !== "SUCCEEDED");
  expect(unsuccessful.map((e) => [e.status, e.trace.filter((s) => s.caught || s.retries.length > 0)])).toEqual([]);
  for (const id of warmIds) expect(recordState(executionOf(stack, id))?.retries).toEqual([]);
  for (const id of frozenIds) {
    const execution = executionOf(stack, id);
    const record = recordState(execution);
    expect(record?.retries[0]?.error).toBe("Sandbox.Timedout");
    expect(record?.attempts).toBe((record?.retries.length ?? 0) + 1);
    const [failure] = execution.history
      .filter((h) => h.type === "LambdaFunctionFailed")
      .map((h) => LambdaFailure.parse(h).lambdaFunctionFailedEventDetails);
    expect(failure?.error).toBe("Sandbox.Timedout");
    expect(JSON.parse(failure?.cause ?? "null")).toEqual({
      errorType: "Sandbox.Timedout",
      errorMessage: `Task timed out after ${RECORDER_TIMEOUT_SECONDS.toFixed(2)} seconds`,
      trace: [],
    });
  }
  const ids = [...warmIds, ...frozenIds];
  const { items, failedMessages: _, ...counts } = await accountEvents(stack, c, ids);
  console.info("DynamoDB stalled past the recorder's timeout:", JSON.stringify({ sent: ids.length, ...counts }));
  expect(counts).toEqual({
    recorded: ids.length,
    rejected: 0,
    failedQueue: 0,
    deadLetters: 0,
    lost: [],
    twice: [],
  });

  // Recorded exactly once: each event's items (its order's collection, and any receipt or rejection under its id)
  // are its order's META and one version, and no other item mentions the event.
  const sent = [...warm, ...frozen].map((o, i) => ({ orderId: o.orderId, eventId: ids[i] ?? "" }));
  type Sent = (typeof sent)[number];
  const owns = ({ orderId, eventId }: Sent, item: Item) =>
    [`EVENT#${eventId}`, `ORDER#${orderId}`, `REJECTION#${eventId}`].includes(String(item.pk));
  const footprint = (event: Sent) =>
    items
      .filter((item) => owns(event, item))
      .map((item) => {
        const pk = String(item.pk).replace(event.eventId, "<event>").replace(event.orderId, "<order>");
        // Versions are the engine's, and differ between orders.
        return `${pk} ${String(item.sk).replace(/\d+/g, "<n>")}`;
      });
  for (const event of sent) {
    expect({ event, items: footprint(event) }).toEqual({ event, items: ["ORDER#<order> META", "ORDER#<order> V#<n>"] });
    const strays = items.filter((item) => !owns(event, item) && JSON.stringify(item).includes(event.eventId));
    expect(strays).toEqual([]);
  }
});
