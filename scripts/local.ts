// npm run local: the whole pipeline on this machine, up until Ctrl-C. See docs/local.md.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../local/servers";
import { startLocalStack } from "../local/stack";
import { refuseIfRunning, removeStackFile, STACK_FILE, stackInfo, writeStackFile } from "../local/stack-file";

const state = join(repoRoot, ".local");
const logDir = join(state, "logs");
const redisDataDir = join(state, "redis");
// DynamoDB Local and moto keep nothing across restarts, so neither does Redis: every start is a fresh stack.
refuseIfRunning();
rmSync(redisDataDir, { recursive: true, force: true });
rmSync(logDir, { recursive: true, force: true });

const started = Date.now();
const stack = await startLocalStack({ logDir, redisDataDir });
const info = stackInfo(stack, logDir);
writeStackFile(info);

const lines = [
  `tradeflow local stack up in ${((Date.now() - started) / 1000).toFixed(1)} s (stage ${stack.resources.templateParameters.Stage})`,
  "",
  `  gateway (Step Functions, EventBridge PutEvents; DynamoDB and moto behind it)  ${stack.endpoint}`,
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
  `  endpoints file   ${STACK_FILE}`,
  "",
  "Try:",
  "  npm run put-events -- --entries file://events/put-events/orders-crossing.json",
  "  npm run inspect -- executions",
  "  npm run inspect -- depth AAPL",
  `  aws --endpoint-url ${stack.endpoint} stepfunctions list-executions --state-machine-arn ${stack.machine.arn}`,
  "",
  "Ctrl-C stops it.",
];
process.stdout.write(`${lines.join("\n")}\n`);

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  process.stdout.write(`\n${signal}: stopping the local stack...\n`);
  removeStackFile();
  await stack.stop();
  process.exit(0);
};
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));
