// The operator's commands against the local stack, with the real `aws` CLI: every command of docs/local.md and the
// runbook of docs/operations.md (each alarm's diagnosis, fix and replay or redrive), under other credentials and
// another region than the stack's own (DynamoDB Local runs with -sharedDb). Then `npm run local` itself as a child
// process: --persist keeps records and books across a restart, Ctrl-C drains the executions in flight, and a stop
// reports by id what it abandons.
//
// The suites start their own stacks (stage dev, as the samples name its bus): the runbook freezes its DynamoDB Local.
// Needs `npm run build` and the aws CLI.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { jest } from "@jest/globals";
import { z } from "zod";
import { repoRoot } from "../../local/servers";
import { type LocalStack, startLocalStack } from "../../local/stack";
import { type StackInfo, StackInfoSchema, stackInfo, writeStackFile } from "../../local/stack-file";
import { awsCliFor, awsCliV1, awsCliV2 } from "../support/aws-cli";
import { executionOf, type PipelineClients, pipelineClients, queueCounts } from "../support/pipeline";

const execFileAsync = promisify(execFile);
const BUS = "tradeflow-dev";
/** Not the stack's own credentials ("testing"), and a region DynamoDB Local's shared database ignores. */
const operatorEnv = {
  ...process.env,
  AWS_ACCESS_KEY_ID: "test",
  AWS_SECRET_ACCESS_KEY: "test",
  AWS_DEFAULT_REGION: "us-east-1",
  AWS_PAGER: "",
  PATH: `${dirname(process.execPath)}:${process.env.PATH}`,
};

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv = operatorEnv): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileAsync(file, args, { cwd: repoRoot, env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** `aws --endpoint-url <endpoint> ...args --output json`, its JSON answer (empty output: {}). */
async function aws(endpoint: string, ...args: string[]): Promise<Record<string, unknown>> {
  const r = await run(awsCliFor(args), ["--endpoint-url", endpoint, ...args, "--output", "json"]);
  if (r.code !== 0) throw new Error(`aws ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, unknown>) : {};
}

/** `aws events put-events --entries <JSON>`: the CLI's answer. */
const putEntries = (endpoint: string, entries: readonly unknown[]) =>
  aws(endpoint, "events", "put-events", "--entries", JSON.stringify(entries));

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(200);
  }
}

const PutEventsAnswer = z.object({ FailedEntryCount: z.number(), Entries: z.array(z.object({ EventId: z.string() })) });
const Received = z.object({
  Messages: z
    .array(
      z.object({
        Body: z.string(),
        ReceiptHandle: z.string(),
        MessageAttributes: z.record(z.string(), z.object({ StringValue: z.string() })).optional(),
      }),
    )
    .default([]),
});
const Envelope = z.object({
  id: z.string(),
  source: z.string(),
  "detail-type": z.string(),
  detail: z.record(z.string(), z.unknown()),
});

/** The runbook's replay: `aws events put-events` with Source, DetailType and Detail of the event, on the stage's bus. */
async function replay(endpoint: string, event: z.infer<typeof Envelope>): Promise<string> {
  const entries = [
    { Source: event.source, DetailType: event["detail-type"], Detail: JSON.stringify(event.detail), EventBusName: BUS },
  ];
  const answer = PutEventsAnswer.parse(await putEntries(endpoint, entries));
  expect(answer.FailedEntryCount).toBe(0);
  return answer.Entries[0]?.EventId ?? "";
}

const order = (orderId: string, side: "BUY" | "SELL", price: string, quantity: string) => ({
  Source: "tradeflow.orders",
  DetailType: "Order Submitted",
  Detail: JSON.stringify({ clientId: "C-OPS", orderId, symbol: "AAPL", side, type: "LIMIT", price, quantity }),
  EventBusName: BUS,
});

describe("the runbook, with the aws CLI", () => {
  let stack: LocalStack;
  let c: PipelineClients;
  let endpoint: string;
  let dir: string;
  const queueArn = (id: string) => stack.resources.physical[id]?.attributes?.Arn ?? "";
  const queueUrl = (id: string) => stack.resources.queues[id] ?? "";
  const parameter = (name: string) => `${stack.resources.configPath}/${name}`;
  const templateValues: Record<string, string> = {};

  beforeAll(async () => {
    stack = await startLocalStack({
      stage: "dev",
      timing: { taskRetryMs: 50, eventRetryBaseMs: 1, sqsRetryVisibilitySeconds: 1 },
    });
    c = pipelineClients(stack);
    endpoint = stack.endpoint;
    dir = mkdtempSync(join(tmpdir(), "tradeflow-operator-"));
    writeStackFile(stackInfo(stack), join(dir, "stack.json"));
    const ssm = new SSMClient({ endpoint: stack.motoEndpoint, region: stack.region });
    for (const name of ["instruments", "alert-thresholds"]) {
      const { Parameter } = await ssm.send(new GetParameterCommand({ Name: parameter(name) }));
      templateValues[name] = Parameter?.Value ?? "";
    }
    ssm.destroy();
  }, 120_000);

  afterAll(async () => {
    stack?.dynamo?.process.kill("SIGCONT");
    c?.destroy();
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // The faults come first, while no container has read (and cached) the parameters they remove.
  test("FailedExecutionsAlarm: a missing parameter fails the event; put-parameter fixes it and the replay records it", async () => {
    await aws(endpoint, "ssm", "delete-parameter", "--name", parameter("instruments"));
    await aws(endpoint, "ssm", "delete-parameter", "--name", parameter("alert-thresholds"));
    const sent = PutEventsAnswer.parse(await putEntries(endpoint, [order("O-OPS-1", "BUY", "100.00", "10")]));
    await stack.idle();
    expect(executionOf(stack, sent.Entries[0]?.EventId ?? "").status).toBe("FAILED");

    // 1. Group the messages by error.Error.
    const { Messages } = Received.parse(
      await aws(endpoint, "sqs", "receive-message", "--queue-url", queueUrl("FailedExecutionsQueue")),
    );
    expect(Messages).toHaveLength(1);
    const [message] = Messages;
    const body = z
      .object({ event: Envelope, error: z.object({ Error: z.string() }) })
      .parse(JSON.parse(message?.Body ?? ""));
    expect(body.error.Error).toBe("ConfigurationError");
    expect(body.event.id).toBe(sent.Entries[0]?.EventId);
    // ConfigurationError: fix it with put-parameter.
    const instruments = templateValues.instruments ?? "";
    await aws(
      endpoint,
      "ssm",
      "put-parameter",
      "--name",
      parameter("instruments"),
      "--type",
      "String",
      "--value",
      instruments,
      "--overwrite",
    );
    // 2. Replay the event, then delete the message.
    const replayed = await replay(endpoint, body.event);
    await aws(
      endpoint,
      "sqs",
      "delete-message",
      "--queue-url",
      queueUrl("FailedExecutionsQueue"),
      "--receipt-handle",
      message?.ReceiptHandle ?? "",
    );
    await stack.idle();
    expect(executionOf(stack, replayed).status).toBe("SUCCEEDED");
    expect(await queueCounts(c.sqs, queueUrl("FailedExecutionsQueue"))).toEqual({
      visible: 0,
      inFlight: 0,
      delayed: 0,
    });
    const scan = await aws(
      endpoint,
      "dynamodb",
      "get-item",
      "--table-name",
      "tradeflow-dev-compliance",
      "--key",
      '{"pk":{"S":"ORDER#O-OPS-1"},"sk":{"S":"META"}}',
    );
    expect(scan).toMatchObject({ Item: { status: { S: "NEW" }, remainingQuantity: { S: "10" } } });
  }, 60_000);

  test("docs/local.md: put-events, list-executions, scan, receive-message, get-parameters-by-path, inspect history", async () => {
    const sent = PutEventsAnswer.parse(
      await aws(endpoint, "events", "put-events", "--entries", "file://events/put-events/orders-crossing.json"),
    );
    expect(sent.FailedEntryCount).toBe(0);
    await until("both executions ended", async () => (stack.machine.runningCount === 0 ? true : undefined), 30_000);
    const listed = z
      .object({ executions: z.array(z.object({ executionArn: z.string(), status: z.string(), name: z.string() })) })
      .parse(await aws(endpoint, "stepfunctions", "list-executions", "--state-machine-arn", stack.machine.arn));
    const ours = sent.Entries.map((e) => executionOf(stack, e.EventId));
    expect(ours.map((e) => listed.executions.find((l) => l.executionArn === e.executionArn)?.status)).toEqual([
      "SUCCEEDED",
      "SUCCEEDED",
    ]);
    // Any region: DynamoDB Local's one shared database answers.
    const items = z
      .object({ Items: z.array(z.record(z.string(), z.object({ S: z.string() }).partial())) })
      .parse(
        await aws(endpoint, "--region", "eu-west-1", "dynamodb", "scan", "--table-name", "tradeflow-dev-compliance"),
      );
    expect(items.Items.filter((i) => i.pk?.S === "ORDER#O-1001" && i.sk?.S === "META")).toEqual([
      expect.objectContaining({ status: { S: "PARTIALLY_FILLED" } }),
    ]);
    expect(
      Received.parse(await aws(endpoint, "sqs", "receive-message", "--queue-url", queueUrl("FailedExecutionsQueue"))),
    ).toEqual({
      Messages: [],
    });
    const parameters = z
      .object({ Parameters: z.array(z.object({ Name: z.string() })) })
      .parse(await aws(endpoint, "ssm", "get-parameters-by-path", "--path", "/tradeflow/dev"));
    expect(parameters.Parameters.map((p) => p.Name).sort()).toEqual(
      expect.arrayContaining(["fee-schedule", "instruments", "trading-sessions"].map((n) => `/tradeflow/dev/${n}`)),
    );
    // The runbook's WorkflowTimedOut replay reads the input from the ExecutionStarted event.
    const history = z
      .object({
        events: z.array(
          z.object({ type: z.string(), executionStartedEventDetails: z.object({ input: z.string() }).optional() }),
        ),
      })
      .parse(
        await aws(endpoint, "stepfunctions", "get-execution-history", "--execution-arn", ours[1]?.executionArn ?? ""),
      );
    const started = history.events.find((e) => e.type === "ExecutionStarted")?.executionStartedEventDetails?.input;
    expect(Envelope.parse(JSON.parse(started ?? "")).id).toBe(sent.Entries[1]?.EventId);

    const inspect = await run(
      join(repoRoot, "node_modules", ".bin", "tsx"),
      ["scripts/inspect.ts", "history", ours[1]?.executionArn ?? ""],
      {
        ...operatorEnv,
        TRADEFLOW_STACK_FILE: join(dir, "stack.json"),
      },
    );
    expect(inspect.code).toBe(0);
    expect(inspect.stdout).toContain("Record");
    expect(inspect.stdout).toContain("SUCCEEDED");
  }, 60_000);

  test("AlertDeadLetterAlarm: ticks the alerter failed five times are moved back with start-message-move-task", async () => {
    // The trade of the previous test sent a tick; without alert-thresholds the alerter fails it until the DLQ has it.
    const dlq = queueUrl("AlertDeadLetterQueue");
    await until(
      "the tick reached the DLQ",
      async () => ((await queueCounts(c.sqs, dlq)).visible === 1 ? true : undefined),
      40_000,
    );
    await aws(
      endpoint,
      "ssm",
      "put-parameter",
      "--name",
      parameter("alert-thresholds"),
      "--type",
      "String",
      "--value",
      templateValues["alert-thresholds"] ?? "",
      "--overwrite",
    );

    const { TaskHandle } = z
      .object({ TaskHandle: z.string() })
      .parse(
        await aws(
          endpoint,
          "sqs",
          "start-message-move-task",
          "--source-arn",
          queueArn("AlertDeadLetterQueue"),
          "--destination-arn",
          queueArn("AlertQueue"),
        ),
      );
    expect(TaskHandle).not.toBe("");
    await stack.moveTasks.idle();
    const tasks = await aws(
      endpoint,
      "sqs",
      "list-message-move-tasks",
      "--source-arn",
      queueArn("AlertDeadLetterQueue"),
    );
    expect(tasks).toEqual({
      Results: [
        {
          Status: "COMPLETED",
          SourceArn: queueArn("AlertDeadLetterQueue"),
          DestinationArn: queueArn("AlertQueue"),
          ApproximateNumberOfMessagesMoved: 1,
          ApproximateNumberOfMessagesToMove: 1,
          StartedTimestamp: expect.any(Number),
        },
      ],
    });
    // The alerter now takes the tick: the symbol's alert state has the trade.
    await until(
      "the alerter took the tick",
      async () => {
        const state = await aws(
          endpoint,
          "dynamodb",
          "get-item",
          "--table-name",
          "tradeflow-dev-alerts",
          "--key",
          '{"pk":{"S":"SYMBOL#AAPL"},"sk":{"S":"STATE"}}',
        );
        return state.Item ? state : undefined;
      },
      20_000,
    ).then((state) => expect(state).toMatchObject({ Item: { lastTradeId: { S: "AAPL-1" } } }));
    expect(await queueCounts(c.sqs, dlq)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });

    // Without a destination the messages go back to the queue whose RedrivePolicy names the DLQ; a DLQ no queue
    // names (the rule's) needs one.
    await aws(endpoint, "sqs", "send-message", "--queue-url", dlq, "--message-body", "{}");
    await aws(endpoint, "sqs", "start-message-move-task", "--source-arn", queueArn("AlertDeadLetterQueue"));
    await stack.moveTasks.idle();
    expect(
      await aws(endpoint, "sqs", "list-message-move-tasks", "--source-arn", queueArn("AlertDeadLetterQueue")),
    ).toMatchObject({
      Results: [{ Status: "COMPLETED", ApproximateNumberOfMessagesMoved: 1 }],
    });
    const refused = await run(awsCliV1(), [
      "--endpoint-url",
      endpoint,
      "sqs",
      "start-message-move-task",
      "--source-arn",
      queueArn("EventRuleDeadLetterQueue"),
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("InvalidParameterValue");
  }, 90_000);

  test("EventRuleDeadLetterAlarm: an event the rule could not deliver is read with its error and replayed", async () => {
    const target = stack.bus.ruleList.find((r) => r.name.endsWith("-orders"))?.targets[0];
    if (!target) throw new Error("no orders rule target");
    const denied = Object.assign(new Error("not authorized to perform states:StartExecution"), {
      name: "AccessDenied",
    });
    const spy = jest.spyOn(target, "deliver").mockRejectedValue(denied);
    try {
      await putEntries(endpoint, [order("O-OPS-2", "BUY", "101.00", "5")]);
      await stack.idle();
    } finally {
      spy.mockRestore();
    }
    const dlq = queueUrl("EventRuleDeadLetterQueue");
    // 1. Read a message.
    const { Messages } = Received.parse(
      await aws(endpoint, "sqs", "receive-message", "--queue-url", dlq, "--message-attribute-names", "All"),
    );
    const [message] = Messages;
    expect(message?.MessageAttributes).toMatchObject({
      ERROR_CODE: { StringValue: "AccessDenied" },
      ERROR_MESSAGE: { StringValue: denied.message },
      RETRY_ATTEMPTS: { StringValue: "10" },
    });
    // 3. Replay the body, then delete the message.
    const replayed = await replay(endpoint, Envelope.parse(JSON.parse(message?.Body ?? "")));
    await aws(endpoint, "sqs", "delete-message", "--queue-url", dlq, "--receipt-handle", message?.ReceiptHandle ?? "");
    await stack.idle();
    expect(executionOf(stack, replayed).status).toBe("SUCCEEDED");
    expect(await queueCounts(c.sqs, dlq)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  }, 60_000);

  test("routine: a new Redis AUTH token is put into the secret", async () => {
    const secret = Object.values(stack.resources.secrets)[0] ?? "";
    await aws(
      endpoint,
      "secretsmanager",
      "put-secret-value",
      "--secret-id",
      secret,
      "--secret-string",
      '{"authToken":"a-new-token-of-16-or-more"}',
    );
    expect(await aws(endpoint, "secretsmanager", "get-secret-value", "--secret-id", secret)).toMatchObject({
      SecretString: '{"authToken":"a-new-token-of-16-or-more"}',
    });
  });

  test("drain: no new work is taken, executions in flight finish or are returned by id", async () => {
    const dynamo = stack.dynamo;
    if (!dynamo) throw new Error("the stack started no DynamoDB Local of its own");
    // Frozen DynamoDB: Records hang, so the executions are still in flight when the drain begins.
    dynamo.process.kill("SIGSTOP");
    const sent = PutEventsAnswer.parse(
      await putEntries(endpoint, [order("O-OPS-3", "BUY", "102.00", "1"), order("O-OPS-4", "BUY", "103.00", "1")]),
    );
    const draining = stack.drain(1000);
    const refused = await run(awsCliV2(), [
      "--endpoint-url",
      endpoint,
      "events",
      "put-events",
      "--entries",
      JSON.stringify([order("O-OPS-5", "BUY", "104.00", "1")]),
    ]);
    expect(refused.stderr).toContain("ServiceUnavailableException");
    const start = await run(awsCliV2(), [
      "--endpoint-url",
      endpoint,
      "stepfunctions",
      "start-execution",
      "--state-machine-arn",
      stack.machine.arn,
      "--input",
      "{}",
    ]);
    expect(start.stderr).toContain("ServiceUnavailableException");
    // An event no rule routes (what the recorder publishes) is still taken.
    const unrouted = PutEventsAnswer.parse(
      await putEntries(endpoint, [{ ...order("O-OPS-6", "BUY", "1", "1"), Source: "tradeflow.compliance" }]),
    );
    expect(unrouted.FailedEntryCount).toBe(0);
    const unfinished = await draining;
    expect(unfinished.map((e) => e.executionArn).sort()).toEqual(
      sent.Entries.map((e) => executionOf(stack, e.EventId).executionArn).sort(),
    );

    // Given the time, they finish: a second drain returns none, and both orders are recorded.
    dynamo.process.kill("SIGCONT");
    expect(await stack.drain(30_000)).toEqual([]);
    expect(sent.Entries.map((e) => executionOf(stack, e.EventId).status)).toEqual(["SUCCEEDED", "SUCCEEDED"]);
  }, 60_000);
});

describe("npm run local", () => {
  const dir = mkdtempSync(join(tmpdir(), "tradeflow-local-"));
  const stackFile = join(dir, "stack.json");
  let child: ChildProcess | undefined;
  let stderr = "";

  afterAll(async () => {
    if (child && child.exitCode === null) await stopLocal("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  });

  async function startLocal(...args: string[]): Promise<StackInfo> {
    rmSync(stackFile, { force: true });
    stderr = "";
    // Node itself with tsx's loader, not the tsx wrapper: a signal goes straight to the stack's process.
    child = spawn(process.execPath, ["--import", "tsx", "scripts/local.ts", "--dir", dir, ...args], {
      cwd: repoRoot,
      env: { ...process.env, PATH: operatorEnv.PATH },
      stdio: ["ignore", "ignore", "pipe"],
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    return until(
      "npm run local wrote its stack file",
      async () => {
        if (child?.exitCode !== null) throw new Error(`npm run local exited: ${stderr}`);
        return existsSync(stackFile) ? StackInfoSchema.parse(JSON.parse(readFileSync(stackFile, "utf8"))) : undefined;
      },
      90_000,
    );
  }

  async function stopLocal(signal: NodeJS.Signals = "SIGINT"): Promise<number | null> {
    const running = child;
    if (!running || running.exitCode !== null) return running?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => running.once("exit", (code) => resolve(code)));
    running.kill(signal);
    return exited;
  }

  const recorded = async (info: StackInfo, orderId: string) =>
    (
      await aws(
        info.endpoint,
        "dynamodb",
        "get-item",
        "--table-name",
        "tradeflow-dev-compliance",
        "--key",
        JSON.stringify({ pk: { S: `ORDER#${orderId}` }, sk: { S: "META" } }),
      )
    ).Item !== undefined;

  test("Ctrl-C drains: every execution in flight ends recorded or is reported by id; --persist keeps records, books and queues", async () => {
    let info = await startLocal("--persist", "--drain-seconds", "60");
    const orders = Array.from({ length: 10 }, (_, i) => order(`O-DRAIN-${i}`, "BUY", (90 + i / 100).toFixed(2), "1"));
    const sent = PutEventsAnswer.parse(await putEntries(info.endpoint, orders));
    const ids = sent.Entries.map((e) => e.EventId);
    // Stopped with the executions in flight.
    expect(await stopLocal("SIGINT")).toBe(0);
    const stopReport = stderr;
    const reported = [...stopReport.matchAll(/(?:unfinished|failed) execution (\S+) \(event (\S+)\)/g)].map(
      (m) => m[2],
    );

    info = await startLocal("--persist");
    for (const [i, id] of ids.entries()) {
      const orderId = `O-DRAIN-${i}`;
      expect({ orderId, ended: (await recorded(info, orderId)) || reported.includes(id) }).toEqual({
        orderId,
        ended: true,
      });
    }
    // With 60 s to drain, none was abandoned.
    expect(stopReport).not.toContain("unfinished execution");
    const book = await run(
      join(repoRoot, "node_modules", ".bin", "tsx"),
      ["scripts/inspect.ts", "depth", "AAPL", "--json"],
      {
        ...operatorEnv,
        TRADEFLOW_STACK_FILE: stackFile,
      },
    );
    expect(JSON.parse(book.stdout)).toMatchObject({
      symbol: "AAPL",
      bids: expect.arrayContaining([expect.objectContaining({ price: "90.09", quantity: "1", orders: 1 })]),
    });
    const queues = z.object({ QueueUrls: z.array(z.string()) }).parse(await aws(info.endpoint, "sqs", "list-queues"));
    expect(queues.QueueUrls.map((u) => u.split("/").pop()).sort()).toEqual(
      expect.arrayContaining([
        "tradeflow-dev-alerts",
        "tradeflow-dev-alerts-dlq",
        "tradeflow-dev-event-rule-dlq",
        "tradeflow-dev-failed-executions",
      ]),
    );
    expect(await stopLocal("SIGTERM")).toBe(0);

    // Without --persist the next start is fresh.
    info = await startLocal();
    expect(await recorded(info, "O-DRAIN-0")).toBe(false);
    expect(await stopLocal("SIGINT")).toBe(0);
  }, 240_000);
});
