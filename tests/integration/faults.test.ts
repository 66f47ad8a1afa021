// Faults mid-stream, each on a stack of its own, each followed by the same two checks (tests/support/faults.ts):
// every event ended in exactly one place, and the compliance table and the engine agree per order and per symbol.
//
// - DynamoDB Local killed (SIGKILL) and started again on its data: the recorder's connection errors reach the state
//   machine as DependencyUnavailable, Record retries them, and nothing ends in a queue.
// - DynamoDB Local down past every retry, then back; more events move the prices; the failed-executions queue is
//   replayed as the runbook says (put-events of each message's event): everything is restored.
// - moto killed and started again empty on its port, then re-provisioned: the recorder's sends to the alert queue
//   fail meanwhile (RecorderPublishError), Record retries them, and nothing is lost.
// - Recorder and matcher containers crashed mid-invocation, again and again: Runtime.ExitError, retried; the
//   commands that had already run in Redis are replayed from their stored results.
// - The stack drained and stopped mid-stream, and started again on the same data (what `npm run local -- --persist`
//   does): the rest of the stream goes through the new stack.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import type { Message } from "@aws-sdk/client-sqs";
import * as z from "zod";
import { type LocalServer, startDynamoDbLocal, startMoto } from "../../local/servers";
import { type LocalStack, startLocalStack } from "../../local/stack";
import type { Execution } from "../../local/stepfunctions/workflow";
import { accountEvents, expectAllRecorded, faultStream, streamEvents } from "../support/faults";
import { type PipelineClients, pipelineClients } from "../support/pipeline";

const IN_FLIGHT = 16;

interface Harness {
  stack: LocalStack;
  c: PipelineClients;
  dynamo: LocalServer;
  dataDir: string;
  /** Kills DynamoDB Local (SIGKILL) and resolves once it has exited. */
  killDynamo(): Promise<void>;
  /** Starts DynamoDB Local again on the same port and data. */
  restartDynamo(): Promise<void>;
  stop(): Promise<void>;
}

async function harness(stage: string, taskRetryMs: number): Promise<Harness> {
  const dataDir = mkdtempSync(join(tmpdir(), `tradeflow-${stage}-dynamo-`));
  const stack = await startLocalStack({
    stage,
    dynamoDataDir: dataDir,
    timing: { taskRetryMs, eventRetryBaseMs: 10, sqsRetryVisibilitySeconds: 1 },
  });
  if (!stack.dynamo) throw new Error("the stack started no DynamoDB Local of its own");
  const h: Harness = {
    stack,
    c: pipelineClients(stack),
    dynamo: stack.dynamo,
    dataDir,
    async killDynamo() {
      const exited = new Promise((resolve) => h.dynamo.process.once("exit", resolve));
      h.dynamo.process.kill("SIGKILL");
      await exited;
    },
    async restartDynamo() {
      h.dynamo = await startDynamoDbLocal(h.dynamo.port, { dataDir });
    },
    async stop() {
      h.c.destroy();
      await stack.stop();
      await h.dynamo.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return h;
}

/** Executions that did not succeed, each with the states that retried or caught (what went wrong, if this fails). */
const unsuccessful = (executions: readonly Execution[]) =>
  executions
    .filter((e) => e.status !== "SUCCEEDED")
    .map((e) => [e.status, e.trace.filter((s) => s.caught || s.retries.length > 0)]);

const recordRetries = (e: Execution) =>
  e.trace.filter((s) => s.state === "Record" || s.state === "RecordRejection").flatMap((s) => s.retries);

describe("DynamoDB Local killed and restarted on its data", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness("fault-dynamo-kill", 3000);
  }, 120_000);
  afterAll(() => h?.stop());

  it("Record retries DependencyUnavailable through the outage; every event is recorded once", async () => {
    const { stack, c } = h;
    const { entries, orders } = faultStream(stack.resources.bus, { seed: 77, events: 150, prefix: "DK" });
    let outage: Promise<void> | undefined;
    const { eventIds } = await streamEvents(stack, c, entries, {
      inFlight: IN_FLIGHT,
      afterBatch: async (sent) => {
        if (outage || sent < 50) return;
        await h.killDynamo();
        outage = sleep(1000).then(() => h.restartDynamo());
      },
    });
    await outage;
    await stack.idle();

    const executions = stack.machine.list();
    expect(unsuccessful(executions)).toEqual([]);
    const retried = executions.flatMap(recordRetries).map((r) => r.error);
    expect(retried.length).toBeGreaterThan(0);
    expect(new Set(retried)).toEqual(new Set(["DependencyUnavailable"]));

    await expectAllRecorded("DynamoDB killed and restarted", stack, c, eventIds, orders);
  }, 240_000);
});

const FailedMessage = z.object({
  event: z.object({
    id: z.string(),
    source: z.string(),
    "detail-type": z.string(),
    time: z.string(),
    detail: z.unknown(),
  }),
  error: z.object({ Error: z.string() }).loose(),
});

/**
 * The runbook's redrive of the failed-executions queue, after `accountEvents` took its messages: each message's event
 * put on the bus again (a new event id, the same source, detail-type, time and detail). Returns the original and new
 * ids.
 */
async function replayFailed(stack: LocalStack, c: PipelineClients, messages: readonly Message[]) {
  const replayed = new Map<string, string>();
  for (const m of messages) {
    const { event } = FailedMessage.parse(JSON.parse(m.Body ?? ""));
    const { Entries = [] } = await c.events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: stack.resources.bus,
            Source: event.source,
            DetailType: event["detail-type"],
            Time: new Date(event.time),
            Detail: JSON.stringify(event.detail),
          },
        ],
      }),
    );
    replayed.set(event.id, Entries[0]?.EventId ?? "");
  }
  return replayed;
}

describe("a redrive of the failed-executions queue after the prices moved", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness("fault-redrive", 100);
  }, 120_000);
  afterAll(() => h?.stop());

  it("restores every event the outage failed, and the books and records agree", async () => {
    const { stack, c } = h;
    const { entries, orders } = faultStream(stack.resources.bus, { seed: 91, events: 200, prefix: "RD" });
    const before = await streamEvents(stack, c, entries.slice(0, 60), { inFlight: IN_FLIGHT });
    await stack.idle();
    // DynamoDB down for longer than Record's retries last: these events are matched, but not recorded.
    await h.killDynamo();
    const during = await streamEvents(stack, c, entries.slice(60, 100), { inFlight: IN_FLIGHT });
    await stack.idle();
    await h.restartDynamo();
    const outage = await accountEvents(stack, c, during.eventIds);
    expect({ failedQueue: outage.failedQueue, lost: outage.lost, twice: outage.twice }).toEqual({
      failedQueue: during.eventIds.length,
      lost: [],
      twice: [],
    });

    // The prices move on, over orders the table has not seen yet; then the redrive.
    const after = await streamEvents(stack, c, entries.slice(100), { inFlight: IN_FLIGHT });
    await stack.idle();
    const replayed = await replayFailed(stack, c, outage.failedMessages);
    await stack.idle();
    expect([...replayed.keys()].sort()).toEqual([...during.eventIds].sort());

    const eventIds = [...before.eventIds, ...replayed.values(), ...after.eventIds];
    await expectAllRecorded("redrive after the prices moved", stack, c, eventIds, orders, {
      failedThenReplayed: replayed.size,
    });
  }, 240_000);
});

describe("moto killed, started again and re-provisioned", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness("fault-moto", 2000);
  }, 120_000);
  afterAll(() => h?.stop());

  it("Record retries its sends through the outage; what failed meanwhile is replayed; every event is recorded once", async () => {
    const { stack, c } = h;
    const moto = stack.moto;
    if (!moto) throw new Error("the stack started no moto of its own");
    let restarted: LocalServer | undefined;
    let outage: Promise<void> | undefined;
    const { entries, orders } = faultStream(stack.resources.bus, { seed: 5, events: 150, prefix: "MK" });
    try {
      const { eventIds } = await streamEvents(stack, c, entries, {
        inFlight: IN_FLIGHT,
        afterBatch: async (sent) => {
          if (outage || sent < 50) return;
          const exited = new Promise((resolve) => moto.process.once("exit", resolve));
          moto.process.kill("SIGKILL");
          await exited;
          outage = sleep(500).then(async () => {
            restarted = await startMoto(moto.port);
            await stack.reprovision();
          });
        },
      });
      await outage;
      await stack.idle();

      // A function that cold-started while moto was back but not yet re-provisioned found no configuration: those
      // events went to the (re-created) failed-executions queue, in one place each. The runbook's replay records them.
      const outageAccounting = await accountEvents(stack, c, eventIds);
      expect({ lost: outageAccounting.lost, twice: outageAccounting.twice }).toEqual({ lost: [], twice: [] });
      const errors = outageAccounting.failedMessages.map(
        (m) => FailedMessage.parse(JSON.parse(m.Body ?? "")).error.Error,
      );
      expect(errors.filter((e) => e !== "ConfigurationError")).toEqual([]);
      const replayed = await replayFailed(stack, c, outageAccounting.failedMessages);
      await stack.idle();
      const retried = new Set(
        stack.machine
          .list()
          .flatMap(recordRetries)
          .map((r) => r.error),
      );
      expect(retried).toEqual(new Set(["RecorderPublishError"]));

      const settled = [...eventIds.filter((id) => !replayed.has(id)), ...replayed.values()];
      await expectAllRecorded("moto killed and restarted", stack, c, settled, orders, {
        failedThenReplayed: replayed.size,
      });
    } finally {
      await outage?.catch(() => undefined);
      await restarted?.stop();
    }
  }, 240_000);
});

describe("recorder and matcher containers crashed mid-invocation", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness("fault-crash", 200);
  }, 120_000);
  afterAll(() => h?.stop());

  it("Runtime.ExitError is retried; every event is recorded once", async () => {
    const { stack, c } = h;
    const { entries, orders } = faultStream(stack.resources.bus, { seed: 13, events: 150, prefix: "CR" });
    const crashed = { RecorderFunction: 0, MatcherFunction: 0 };
    const { eventIds } = await streamEvents(stack, c, entries, {
      inFlight: IN_FLIGHT,
      afterBatch: async (sent) => {
        if (sent % 40 !== 0) return;
        await sleep(20);
        for (const fn of ["RecorderFunction", "MatcherFunction"] as const) crashed[fn] += stack.functions.crashBusy(fn);
      },
    });
    await stack.idle();
    expect(crashed.RecorderFunction).toBeGreaterThan(0);
    expect(crashed.MatcherFunction).toBeGreaterThan(0);

    const executions = stack.machine.list();
    expect(unsuccessful(executions)).toEqual([]);
    const retriedAt = (state: string) =>
      executions.flatMap((e) => e.trace.filter((s) => s.state === state).flatMap((s) => s.retries.map((r) => r.error)));
    expect(new Set([...retriedAt("Record"), ...retriedAt("Match")])).toEqual(new Set(["Runtime.ExitError"]));

    await expectAllRecorded("containers crashed", stack, c, eventIds, orders, { crashed });
  }, 240_000);
});

describe("the stack stopped mid-stream and started again on its data", () => {
  const dirs = { redis: "", dynamo: "" };
  let stack: LocalStack | undefined;
  let c: PipelineClients | undefined;
  const start = async () => {
    stack = await startLocalStack({
      stage: "fault-persist",
      redisDataDir: dirs.redis,
      dynamoDataDir: dirs.dynamo,
      timing: { taskRetryMs: 200, eventRetryBaseMs: 10, sqsRetryVisibilitySeconds: 1 },
    });
    c = pipelineClients(stack);
    return { stack, c };
  };
  const stop = async () => {
    c?.destroy();
    await stack?.stop();
  };
  beforeAll(() => {
    dirs.redis = mkdtempSync(join(tmpdir(), "tradeflow-persist-redis-"));
    dirs.dynamo = mkdtempSync(join(tmpdir(), "tradeflow-persist-dynamo-"));
  });
  afterAll(async () => {
    await stop();
    for (const dir of Object.values(dirs)) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("drains what is in flight, and the rest of the stream goes through the restarted stack", async () => {
    const first = await start();
    const { entries, orders } = faultStream(first.stack.resources.bus, { seed: 29, events: 150, prefix: "PS" });
    const before = await streamEvents(first.stack, first.c, entries.slice(0, 80), { inFlight: IN_FLIGHT });
    const unfinished = await first.stack.drain(30_000);
    expect(unfinished).toEqual([]);
    await stop();

    const second = await start();
    const after = await streamEvents(second.stack, second.c, entries.slice(80), { inFlight: IN_FLIGHT });
    await second.stack.idle();
    const eventIds = [...before.eventIds, ...after.eventIds];
    await expectAllRecorded("stopped and restarted", second.stack, second.c, eventIds, orders);
  }, 240_000);
});
