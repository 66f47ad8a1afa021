// The main demo: the local stack, a seeded realistic scenario streamed through EventBridge PutEvents with a
// progress bar, then a summary (executions, trades, rejections by reason, alerts, dead-letter queues) and the
// per-execution traces (one shown, all written to .local/traces.jsonl).
//   npm run demo -- [--orders 2000] [--seed 7] [--in-flight 64]
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient, paginateScan } from "@aws-sdk/lib-dynamodb";
import { repoRoot } from "../local/servers";
import { deadLetterQueues } from "../local/sqs/dead-letters";
import { type LocalStack, startLocalStack } from "../local/stack";
import { refuseIfRunning, removeStackFile, stackInfo, writeStackFile } from "../local/stack-file";
import { formatTrace, type TraceRecord, traceRecord } from "../local/stepfunctions/traces";
import type { Execution } from "../local/stepfunctions/workflow";
import { buildScenario, scenarioExpectations, TIMING_DEPENDENT_REFUSALS } from "./scenario";

const { values: args } = parseArgs({
  options: {
    orders: { type: "string", default: "2000" },
    seed: { type: "string", default: "7" },
    "in-flight": { type: "string", default: "16" },
  },
});
const orders = Number(args.orders);
const seed = Number(args.seed);
const window = Number(args["in-flight"]);

const state = join(repoRoot, ".local");
const logDir = join(state, "logs");
const redisDataDir = join(state, "redis");
const tracesFile = join(state, "traces.jsonl");
refuseIfRunning();
rmSync(redisDataDir, { recursive: true, force: true });
rmSync(logDir, { recursive: true, force: true });

const out = (line = "") => process.stdout.write(`${line}\n`);
const tty = process.stdout.isTTY;

out("Starting the local stack (redis-server, DynamoDB Local, moto; template.yaml; the ASL; the function bundles)...");
const startedAt = Date.now();
// Failed alert messages come back after 2 s instead of the queue's 180 s, so the redrive to the DLQ is visible here.
const stack = await startLocalStack({ logDir, redisDataDir, timing: { sqsRetryVisibilitySeconds: 2 } });
writeStackFile(stackInfo(stack, logDir));
out(`Up in ${((Date.now() - startedAt) / 1000).toFixed(1)} s; gateway ${stack.endpoint}`);

try {
  await run(stack);
} finally {
  removeStackFile();
  await stack.stop();
}

async function run(stack: LocalStack): Promise<void> {
  const scenario = buildScenario({ seed, orders, busName: stack.resources.bus });
  const expected = scenarioExpectations(scenario);
  const { byKind } = expected;
  out(
    `Scenario (seed ${seed}): ${scenario.length} events: ${byKind.ORDER} orders, ${byKind.CANCEL} cancels, ` +
      `${byKind.VENUE_TRADE} venue trades (alpha, beta, gamma), ${byKind.INVALID} invalid`,
  );

  const finished: Execution[] = [];
  stack.machine.onExecutionEnd((e) => finished.push(e));
  const events = new EventBridgeClient({ endpoint: stack.endpoint, region: stack.region });
  const total = scenario.length;
  let put = 0;
  const streamStart = Date.now();
  const progress = () => {
    const done = finished.length;
    const failed = finished.filter((e) => e.status !== "SUCCEEDED").length;
    const width = 30;
    const filled = Math.round((done / total) * width);
    const rate = done / Math.max(0.001, (Date.now() - streamStart) / 1000);
    const line = `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} executions, ${put} put, ${failed} failed, ${rate.toFixed(0)}/s`;
    if (tty) process.stdout.write(`\r${line}`);
    return line;
  };
  const ticker = setInterval(progress, tty ? 100 : 2000);
  let lastLogged = 0;
  for (let i = 0; i < total; i += 10) {
    // Keep a bounded number of executions open, as a steady event source would.
    while (stack.machine.runningCount >= window) await new Promise((r) => setTimeout(r, 2));
    const chunk = scenario.slice(i, i + 10).map((e) => e.entry);
    const response = await events.send(new PutEventsCommand({ Entries: chunk }));
    if (response.FailedEntryCount) out(`\nPutEvents refused ${response.FailedEntryCount} entries`);
    put += chunk.length;
    if (!tty && put - lastLogged >= total / 10) {
      lastLogged = put;
      out(progress());
    }
  }
  // One corrupted message straight onto the alert queue, to show the redrive to its dead-letter queue.
  const sqs = new SQSClient({ endpoint: stack.motoEndpoint, region: stack.region });
  const alertQueueUrl = stack.resources.queues.AlertQueue;
  if (alertQueueUrl)
    await sqs.send(new SendMessageCommand({ QueueUrl: alertQueueUrl, MessageBody: "{corrupted tick" }));
  await stack.idle();
  const streamSeconds = (Date.now() - streamStart) / 1000;
  clearInterval(ticker);
  if (tty) out(`\r${progress()}`);
  else out(progress());

  const dlqs = Object.fromEntries(
    [...deadLetterQueues(stack.resources.template).keys()].map((id) => [id, stack.resources.queues[id] ?? ""]),
  );
  await waitFor(async () => (await countMessages(sqs, dlqs.AlertDeadLetterQueue)) > 0, 60_000);
  await summary(stack, sqs, finished, streamSeconds, expected, dlqs);
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !(await check())) await new Promise((r) => setTimeout(r, 500));
}

async function countMessages(sqs: SQSClient, queueUrl: string | undefined): Promise<number> {
  if (!queueUrl) return 0;
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

async function scan(db: DynamoDBDocumentClient, table: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for await (const page of paginateScan({ client: db }, { TableName: table })) items.push(...(page.Items ?? []));
  return items;
}

function tally(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return (
    [...counts]
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(", ") || "none"
  );
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function summary(
  stack: LocalStack,
  sqs: SQSClient,
  finished: readonly Execution[],
  seconds: number,
  expected: ReturnType<typeof scenarioExpectations>,
  dlqs: Record<string, string>,
): Promise<void> {
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: stack.dynamoEndpoint, region: stack.region }));
  const [compliance, alerts] = await Promise.all([
    scan(db, stack.resources.tables.ComplianceTable ?? ""),
    scan(db, stack.resources.tables.AlertsTable ?? ""),
  ]);
  const of = (entity: string) => compliance.filter((i) => i.entity === entity);
  // Engine trades are in the taker's version of each command that traded; a maker's FILL version repeats its own.
  const engineTrades = of("ORDER_VERSION")
    .filter((v) => v.cause !== "FILL")
    .flatMap((v) => (Array.isArray(v.trades) ? v.trades : []));
  const rejections = of("REJECTION");
  const durations = finished.map((e) => (e.stopDate ?? 0) - e.startDate).sort((a, b) => a - b);
  const first = Math.min(...finished.map((e) => e.startDate));
  const last = Math.max(...finished.map((e) => e.stopDate ?? e.startDate));
  const streamed = Math.max(0.001, (last - first) / 1000);
  const records = finished.map(traceRecord);
  writeFileSync(tracesFile, `${records.map((r) => JSON.stringify(r)).join("\n")}\n`);

  out();
  out("Summary");
  out(
    `  executions     ${tally(finished.map((e) => e.status))} in ${streamed.toFixed(1)} s (${(finished.length / streamed).toFixed(0)}/s); the alert queue settled ${(seconds - streamed).toFixed(0)} s later`,
  );
  out(
    `  latency        p50 ${percentile(durations, 50)} ms, p99 ${percentile(durations, 99)} ms (event in to record written)`,
  );
  const failures = finished.filter((e) => e.status !== "SUCCEEDED");
  if (failures.length) out(`  failed         ${tally(failures.map((e) => e.error ?? "?"))}`);
  out(`  orders         ${tally(of("ORDER").map((o) => String(o.status)))}`);
  out(
    `  trades         ${tally([
      ...engineTrades.map(() => "matched by the engine"),
      ...of("TRADE").map((t) => `reported by ${String(t.venue)}`),
    ])}`,
  );
  // Every rejection but the engine's timing-dependent refusals is predicted exactly, by stage and reason.
  const recorded = rejections.map((r) => ({
    stage: String(r.stage),
    reasons: ((r.reasons as string[] | undefined) ?? []).join("+"),
  }));
  const timing = new Set<string>(TIMING_DEPENDENT_REFUSALS);
  const predictable = recorded
    .filter((r) => !(r.stage === "ENGINE" && timing.has(r.reasons)))
    .map((r) => `${r.stage}:${r.reasons}`);
  const predicted = Object.entries(expected.rejections).flatMap(([reason, n]) =>
    Array<string>(n ?? 0).fill(`VALIDATION:${reason}`),
  );
  const verdict = [...predictable].sort().join() === [...predicted].sort().join() ? "as expected" : "NOT as expected";
  out(`  rejections     ${tally(recorded.map((r) => `${r.stage}:${r.reasons}`))}`);
  out(`    expected     ${tally(predicted)}, besides the engine's timing-dependent refusals: ${verdict}`);
  const inbox = Object.values(stack.topicInboxes);
  const published = (await Promise.all(inbox.map((url) => countMessages(sqs, url)))).reduce((a, b) => a + b, 0);
  const raised = alerts.filter((a) => String(a.sk).startsWith("ALERT#"));
  out(
    `  alerts         ${raised.length} recorded, ${published} published to SNS (the scenario's venue prints make ${expected.alerts.total})`,
  );
  for (const [id, url] of Object.entries(dlqs)) {
    const count = await countMessages(sqs, url);
    const { Messages = [] } = count
      ? await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 1, VisibilityTimeout: 0 }))
      : {};
    const sample = Messages[0]?.Body ? `: ${Messages[0].Body.slice(0, 80)}` : "";
    out(`  ${id.padEnd(28)} ${count} message(s)${sample}`);
  }
  const m = stack.bus.metrics;
  out(
    `  event bus      ${m.MatchedEvents} matched, ${m.Invocations} deliveries, ${m.RetryInvocationAttempts} retries, ${m.InvocationsSentToDlq} to the DLQ`,
  );

  const sample = pickSample(records);
  if (sample) {
    out();
    out("A sample trace (state, type, start offset, duration, retries and catches):");
    out(formatTrace(sample));
  }
  out();
  out(`All ${records.length} traces: ${tracesFile}; function logs: ${logDir}`);
}

/** The most telling execution: one that retried or was caught, else a typical (median) order that matched. */
function pickSample(records: readonly TraceRecord[]): TraceRecord | undefined {
  const eventful = records.find((r) => r.states.some((s) => s.retries.length > 0));
  const matched = records
    .filter((r) => r.states.some((s) => s.state === "Match"))
    .sort((a, b) => a.durationMs - b.durationMs);
  return eventful ?? matched[Math.floor(matched.length / 2)] ?? records[0];
}
