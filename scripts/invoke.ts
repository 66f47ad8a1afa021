// npm run invoke -- <LogicalId> -e <event.json>: the project's `sam local invoke`. One function of template.yaml,
// from its bundle, with its template environment resolved to the running local stack (or to throwaway servers
// when none runs). The result goes to stdout, the function's logs to stderr.
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { functionHost } from "../local/lambda/functions";
import { LambdaFunctionError } from "../local/lambda/host";
import { provisionFromTemplate } from "../local/provision";
import { type LocalServer, startDynamoDbLocal, startMoto, startRedis } from "../local/servers";
import { loadTemplate } from "../local/template";
import {
  cliArgs,
  isRecord,
  localCredentials,
  printJson,
  readJsonArgument,
  runCommand,
  runningStack,
  UsageError,
} from "./cli";

const usage = `usage: npm run invoke -- <LogicalId> [-e <event.json> | -e - | -e '<json>'] [--stage S]

  -e, --event   the event: a file holding a JSON object, - for stdin, or the JSON itself (default {})
  --stage       the stack's Stage (default: the running stack's, else the template's default)

Runs against the running local stack (npm run local) when there is one, else on throwaway servers.
Prints the function's result, or its error as Lambda reports it ({errorType, errorMessage, trace}, exit code 1).`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Copies what the host appends to a function's log file to stderr as it comes; the returned stop copies the rest. */
function follow(path: string): () => void {
  let offset = 0;
  const copy = () => {
    const size = existsSync(path) ? statSync(path).size : 0;
    if (size <= offset) return;
    const fd = openSync(path, "r");
    const chunk = Buffer.alloc(size - offset);
    offset += readSync(fd, chunk, 0, chunk.length, offset);
    closeSync(fd);
    process.stderr.write(chunk);
  };
  const timer = setInterval(copy, 100);
  return () => {
    clearInterval(timer);
    copy();
  };
}

async function main(): Promise<number> {
  const { values, positionals } = cliArgs(usage, {
    options: {
      event: { type: "string", short: "e" },
      stage: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
  });
  const template = loadTemplate();
  const functions = Object.entries(template.Resources)
    .filter(([, r]) => r.Type === "AWS::Serverless::Function")
    .map(([id]) => id);
  const [logicalId, ...extra] = positionals;
  if (!logicalId || extra.length) throw new UsageError(`${usage}\n\nThe template's functions: ${functions.join(", ")}`);
  if (!functions.includes(logicalId))
    throw new UsageError(`template.yaml has no function ${logicalId}; its functions: ${functions.join(", ")}`);
  const event = values.event === undefined ? {} : readJsonArgument(values.event, "the event");
  if (!isRecord(event)) throw new UsageError("the event must be a JSON object");

  localCredentials();
  const stack = runningStack();
  const servers: LocalServer[] = [];
  const logDir = mkdtempSync(join(tmpdir(), "tradeflow-invoke-"));
  try {
    let endpoints: { redisUrl: string; dynamoEndpoint: string; motoEndpoint: string; gateway?: string };
    if (stack) {
      const { redisUrl, dynamoEndpoint, motoEndpoint, endpoint } = stack;
      endpoints = { redisUrl, dynamoEndpoint, motoEndpoint, gateway: endpoint };
    } else {
      process.stderr.write("no local stack is running: starting redis-server, DynamoDB Local and moto for this call\n");
      const [redis, dynamo, moto] = await Promise.all([startRedis(), startDynamoDbLocal(), startMoto()]);
      servers.push(redis, dynamo, moto);
      endpoints = { redisUrl: redis.endpoint, dynamoEndpoint: dynamo.endpoint, motoEndpoint: moto.endpoint };
    }
    const stage = values.stage ?? stack?.stage ?? String(template.Parameters.Stage?.Default);
    const resources = await provisionFromTemplate(template, {
      dynamoEndpoint: endpoints.dynamoEndpoint,
      motoEndpoint: endpoints.motoEndpoint,
      region: stack?.region ?? process.env.AWS_REGION ?? "us-east-1",
      stage,
    });
    if (stack && resources.stackName !== stack.stackName)
      throw new UsageError(`stage ${stage} is stack ${resources.stackName}, but the running one is ${stack.stackName}`);
    const host = functionHost(resources, endpoints, { logDir });
    const stopFollowing = follow(join(logDir, `${logicalId}.log`));
    try {
      printJson(await host.invoke(logicalId, event));
      return 0;
    } catch (err) {
      if (!(err instanceof LambdaFunctionError)) throw err;
      printJson({ errorType: err.errorType, errorMessage: err.errorMessage, trace: err.trace });
      return 1;
    } finally {
      // The worker's last log lines travel as messages of their own, then through the host's file stream.
      await sleep(50);
      await host.stop();
      await sleep(50);
      stopFollowing();
    }
  } finally {
    rmSync(logDir, { recursive: true, force: true });
    await Promise.all(servers.map((s) => s.stop()));
  }
}

runCommand(main);
