// npm run local: the whole pipeline on this machine, up until Ctrl-C. See docs/local.md.
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { repoRoot } from "../local/servers";
import { startLocalStack } from "../local/stack";
import { refuseIfRunning, removeStackFile, stackInfo, writeStackFile } from "../local/stack-file";
import type { Execution } from "../local/stepfunctions/workflow";
import { cliArgs, positiveInt } from "./cli";

const usage = `usage: npm run local -- [options]

  --persist          keep DynamoDB Local's tables and Redis's books across restarts (in <dir>/dynamodb and
                     <dir>/redis); moto's queues, topics and parameters are provisioned again at each start
  --drain-seconds S  on Ctrl-C, how long executions in flight may take to finish (default 30); a second Ctrl-C
                     stops at once. Executions still running then are reported by ARN and event id on stderr
  --dir DIR          the state directory: stack.json, logs, data (default .local)`;

const { values } = cliArgs(usage, {
  options: {
    persist: { type: "boolean", default: false },
    "drain-seconds": { type: "string" },
    dir: { type: "string", default: join(repoRoot, ".local") },
    help: { type: "boolean", short: "h" },
  },
});
const drainSeconds = positiveInt(values["drain-seconds"], "--drain-seconds", 30);
const state = resolve(values.dir);
const stackFile = join(state, "stack.json");
const logDir = join(state, "logs");
const redisDataDir = join(state, "redis");
const dynamoDataDir = join(state, "dynamodb");
refuseIfRunning(stackFile);
// Without --persist every start is a fresh stack: DynamoDB Local and moto keep nothing, so neither does Redis.
if (!values.persist)
  for (const dir of [redisDataDir, dynamoDataDir, logDir]) rmSync(dir, { recursive: true, force: true });

const started = Date.now();
const stack = await startLocalStack({ logDir, redisDataDir, ...(values.persist && { dynamoDataDir }) });
writeStackFile(stackInfo(stack, logDir), stackFile);

const lines = [
  `tradeflow local stack up in ${((Date.now() - started) / 1000).toFixed(1)} s (stage ${stack.resources.templateParameters.Stage}${values.persist ? `, data kept in ${state}` : ""})`,
  "",
  `  gateway (Step Functions, EventBridge PutEvents; DynamoDB and moto behind it)  ${stack.endpoint}`,
  `  trading API (HTTP API, JWT)  ${stack.apiEndpoint}`,
  `  token issuer (OIDC)          ${stack.issuer.url}`,
  `  redis-server     ${stack.redisUrl}`,
  `  DynamoDB Local   ${stack.dynamoEndpoint}`,
  `  moto server      ${stack.motoEndpoint}`,
  "",
  `  state machine    ${stack.machine.arn} (${stack.machine.options.type})`,
  `  event bus        ${stack.bus.name}: ${stack.bus.ruleList.map((r) => r.name).join(", ")}`,
  ...Object.entries(stack.resources.tables).map(([id, name]) => `  table            ${name} (${id})`),
  ...Object.entries(stack.resources.queues).map(([id, url]) => `  queue            ${url} (${id})`),
  ...Object.entries(stack.topicInboxes).map(([id, url]) => `  ${id} inbox  ${url}`),
  `  function logs    ${logDir}/<LogicalId>.log`,
  `  endpoints file   ${stackFile}`,
  "",
  "Try:",
  "  npm run put-events -- --entries file://events/put-events/orders-crossing.json",
  "  npm run inspect -- executions",
  "  npm run inspect -- depth AAPL",
  "  TOKEN=$(npm run -s token -- --client acme)",
  `  curl -H "authorization: Bearer $TOKEN" ${stack.apiEndpoint}/instruments`,
  `  aws --endpoint-url ${stack.endpoint} stepfunctions list-executions --state-machine-arn ${stack.machine.arn}`,
  "",
  `Ctrl-C stops it: no new events are taken, executions in flight get ${drainSeconds} s to finish.`,
];
process.stdout.write(`${lines.join("\n")}\n`);

/**
 * What a stop leaves to the operator, one line each on stderr with the event to replay: the executions it abandons,
 * and those that failed, whose failed-executions messages go with moto (which keeps nothing).
 */
function reportUnfinished(unfinished: readonly Execution[]): void {
  const failed = stack.machine.list().filter((e) => e.status !== "SUCCEEDED" && e.status !== "RUNNING");
  const eventId = (e: Execution) => String((JSON.parse(e.input) as { id?: unknown }).id);
  for (const e of unfinished)
    process.stderr.write(`unfinished execution ${e.executionArn} (event ${eventId(e)}): abandoned at stop\n`);
  for (const e of failed)
    process.stderr.write(`failed execution ${e.executionArn} (event ${eventId(e)}): ${e.status} ${e.error ?? ""}\n`);
}

let stopping: Promise<void> | undefined;
let stopNow: () => void = () => {};
const stop = (signal: string) => {
  if (stopping) return stopNow();
  process.stdout.write(`\n${signal}: draining (up to ${drainSeconds} s; again to stop at once)...\n`);
  const interrupted = new Promise<void>((resolve) => {
    stopNow = resolve;
  });
  stopping = (async () => {
    const unfinished = await Promise.race([
      stack.drain(drainSeconds * 1000),
      interrupted.then(() => stack.machine.list("RUNNING")),
    ]);
    reportUnfinished(unfinished);
    removeStackFile(stackFile);
    await stack.stop();
    process.stdout.write(
      `stopped: ${unfinished.length === 0 ? "every execution finished" : `${unfinished.length} unfinished`}\n`,
      () => process.exit(0),
    );
  })();
};
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));
