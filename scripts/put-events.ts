// npm run put-events -- --entries file://events/put-events/orders-crossing.json [--wait]: `aws events put-events`
// against the local stack, and with --wait each event's execution, once it has ended.
import { EventBridgeClient, PutEventsCommand, type PutEventsResultEntry } from "@aws-sdk/client-eventbridge";
import {
  DescribeExecutionCommand,
  type DescribeExecutionOutput,
  ListExecutionsCommand,
  SFNClient,
} from "@aws-sdk/client-sfn";
import { z } from "zod";
import type { StackInfo } from "../local/stack-file";
import { type StateTrace, traceOf } from "../local/stepfunctions/traces";
import {
  awsConfig,
  cliArgs,
  duration,
  executionHistory,
  formatPath,
  isRecord,
  machineStates,
  positiveInt,
  readJsonArgument,
  requireRunningStack,
  runCommand,
  runningStack,
  UsageError,
} from "./cli";

const usage = `usage: npm run put-events -- --entries file://<entries.json> | <path> | '<json>' [options]

  --entries          PutEvents entries, as for \`aws events put-events\` (more than 10 are sent in batches of 10)
  --bus NAME         send the entries that name a bus to this one (default: the running stack's bus, so the
                     samples written for the dev stage reach a stack of any stage)
  --endpoint-url URL the EventBridge endpoint (default: the running stack's gateway)
  --wait             then wait for each event's execution and print its status and state path
  --timeout S        how long --wait waits, in seconds (default 60)
  --json             with --wait: one JSON document, the response plus each event's execution

Exit code 1 when an entry was refused or, with --wait, an execution did not succeed.`;

const Entries = z
  .array(
    z.object({
      Source: z.string().optional(),
      DetailType: z.string().optional(),
      Detail: z.string().optional(),
      EventBusName: z.string().optional(),
      Resources: z.array(z.string()).optional(),
      TraceHeader: z.string().optional(),
      // The aws CLI takes a timestamp as ISO 8601 or epoch seconds.
      Time: z
        .union([z.string(), z.number()])
        .transform((t) => new Date(typeof t === "number" ? t * 1000 : t))
        .optional(),
    }),
  )
  .min(1);

interface EventExecution {
  readonly EventId: string;
  readonly executionArn?: string;
  readonly status: string;
  readonly durationMs?: number;
  readonly error?: string;
  readonly cause?: string;
  readonly states?: StateTrace[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The execution each event started: its input is the event's envelope, whose `id` is the EventId. */
async function awaitExecutions(
  sfn: SFNClient,
  info: StackInfo,
  eventIds: readonly string[],
  since: number,
  timeoutMs: number,
): Promise<Map<string, DescribeExecutionOutput>> {
  const wanted = new Set(eventIds);
  const arns = new Map<string, string>();
  const seen = new Set<string>();
  const ended = new Map<string, DescribeExecutionOutput>();
  const deadline = Date.now() + timeoutMs;
  const describe = (executionArn: string) => sfn.send(new DescribeExecutionCommand({ executionArn }));
  while (ended.size < wanted.size && Date.now() < deadline) {
    let nextToken: string | undefined;
    listing: do {
      const page = await sfn.send(new ListExecutionsCommand({ stateMachineArn: info.stateMachineArn, nextToken }));
      for (const e of page.executions ?? []) {
        // Newest first: what started before these events were sent is someone else's.
        if ((e.startDate?.getTime() ?? 0) < since) break listing;
        if (!e.executionArn || seen.has(e.executionArn)) continue;
        seen.add(e.executionArn);
        const input: unknown = JSON.parse((await describe(e.executionArn)).input ?? "null");
        if (isRecord(input) && typeof input.id === "string" && wanted.has(input.id)) arns.set(input.id, e.executionArn);
      }
      nextToken = page.nextToken;
    } while (nextToken);
    for (const [eventId, arn] of arns) {
      if (ended.has(eventId)) continue;
      const execution = await describe(arn);
      if (execution.status !== "RUNNING") ended.set(eventId, execution);
    }
    if (ended.size < wanted.size) await sleep(200);
  }
  return ended;
}

async function main(): Promise<number> {
  const { values } = cliArgs(usage, {
    options: {
      entries: { type: "string" },
      bus: { type: "string" },
      "endpoint-url": { type: "string" },
      wait: { type: "boolean", default: false },
      timeout: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (!values.entries) throw new UsageError(`--entries is required\n\n${usage}`);
  const parsed = Entries.safeParse(readJsonArgument(values.entries, "--entries"));
  if (!parsed.success) throw new UsageError(`--entries: ${z.prettifyError(parsed.error)}`);
  const timeoutMs = positiveInt(values.timeout, "--timeout", 60) * 1000;

  const endpointUrl = values["endpoint-url"];
  const info = endpointUrl && !values.wait ? runningStack() : requireRunningStack();
  const region = info?.region ?? process.env.AWS_REGION ?? "us-east-1";
  const config = awsConfig({ endpoint: endpointUrl ?? info?.endpoint ?? "", region });

  const bus = values.bus ?? info?.busName;
  const entries = parsed.data.map((entry) =>
    bus && entry.EventBusName && entry.EventBusName !== "default" ? { ...entry, EventBusName: bus } : entry,
  );
  const renamed = new Set(parsed.data.map((e) => e.EventBusName).filter((name) => name && name !== bus));
  renamed.delete("default");
  if (bus && renamed.size) process.stderr.write(`entries for ${[...renamed].join(", ")} sent to ${bus}\n`);

  const events = new EventBridgeClient(config);
  const sentAt = Date.now();
  const results: PutEventsResultEntry[] = [];
  for (let i = 0; i < entries.length; i += 10) {
    const answer = await events.send(new PutEventsCommand({ Entries: entries.slice(i, i + 10) }));
    results.push(...(answer.Entries ?? []));
  }
  const response = {
    FailedEntryCount: results.filter((r) => r.ErrorCode).length,
    Entries: results.map(({ EventId, ErrorCode, ErrorMessage }) => ({ EventId, ErrorCode, ErrorMessage })),
  };
  const failedEntries = response.FailedEntryCount > 0;
  if (!values.wait || !info) {
    process.stdout.write(`${JSON.stringify(response, null, 4)}\n`);
    return failedEntries ? 1 : 0;
  }

  const sfn = new SFNClient(config);
  const eventIds = results.flatMap((r) => (r.EventId ? [r.EventId] : []));
  // Clocks are the same machine's; the slack covers the gateway's rounding of startDate.
  const ended = await awaitExecutions(sfn, info, eventIds, sentAt - 1000, timeoutMs);
  const machine = await machineStates(sfn, info.stateMachineArn);
  const executions: EventExecution[] = [];
  for (const eventId of eventIds) {
    const e = ended.get(eventId);
    if (!e?.executionArn) {
      executions.push({ EventId: eventId, status: "NO_EXECUTION" });
      continue;
    }
    executions.push({
      EventId: eventId,
      executionArn: e.executionArn,
      status: e.status ?? "UNKNOWN",
      durationMs: (e.stopDate?.getTime() ?? Date.now()) - (e.startDate?.getTime() ?? Date.now()),
      ...(e.error && { error: e.error, cause: e.cause }),
      states: traceOf(await executionHistory(sfn, e.executionArn), machine.states),
    });
  }
  const allSucceeded = executions.every((e) => e.status === "SUCCEEDED");
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ...response, Executions: executions }, null, 4)}\n`);
  } else {
    process.stdout.write(`${JSON.stringify(response, null, 4)}\n`);
    for (const e of executions) {
      const line =
        e.status === "NO_EXECUTION"
          ? `no execution within ${timeoutMs / 1000}s (no rule matched, or EventBridge is still retrying)`
          : `${duration(e.durationMs ?? 0)}  ${formatPath(e.states ?? [])}${e.error ? `  error ${e.error}` : ""}`;
      process.stdout.write(`${e.EventId}  ${e.status.padEnd(9)}  ${line}\n`);
    }
  }
  return failedEntries || !allSucceeded ? 1 : 0;
}

runCommand(main);
