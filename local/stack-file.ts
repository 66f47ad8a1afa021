// How the commands find the stack `npm run local` keeps up: it writes its endpoints and names to .local/stack.json
// and removes the file when it stops.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";
import { repoRoot } from "./servers";
import type { LocalStack } from "./stack";

export const STACK_FILE = join(repoRoot, ".local", "stack.json");

const Names = z.record(z.string(), z.string());
export const StackInfoSchema = z.object({
  pid: z.number(),
  endpoint: z.string(),
  /** The HTTP API (trading API), and the OIDC issuer whose tokens it takes. */
  apiEndpoint: z.string(),
  issuerUrl: z.string(),
  redisUrl: z.string(),
  dynamoEndpoint: z.string(),
  motoEndpoint: z.string(),
  region: z.string(),
  stage: z.string(),
  stackName: z.string(),
  stateMachineArn: z.string(),
  busName: z.string(),
  configPath: z.string(),
  tables: Names,
  queues: Names,
  topics: Names,
  topicInboxes: Names,
  parameters: Names,
  logDir: z.string().optional(),
});
export type StackInfo = z.infer<typeof StackInfoSchema>;

export function stackInfo(stack: LocalStack, logDir?: string): StackInfo {
  const { resources } = stack;
  return {
    pid: process.pid,
    endpoint: stack.endpoint,
    apiEndpoint: stack.apiEndpoint,
    issuerUrl: stack.issuer.url,
    redisUrl: stack.redisUrl,
    dynamoEndpoint: stack.dynamoEndpoint,
    motoEndpoint: stack.motoEndpoint,
    region: stack.region,
    stage: resources.templateParameters.Stage ?? "",
    stackName: resources.stackName,
    stateMachineArn: stack.machine.arn,
    busName: resources.bus,
    configPath: resources.configPath,
    tables: resources.tables,
    queues: resources.queues,
    topics: resources.topics,
    topicInboxes: { ...stack.topicInboxes },
    parameters: resources.parameters,
    ...(logDir && { logDir }),
  };
}

export function writeStackFile(info: StackInfo, path = STACK_FILE): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(info, null, 2)}\n`);
}

/** Removes the file if this process wrote it. */
export function removeStackFile(path = STACK_FILE): void {
  if (existsSync(path) && StackInfoSchema.parse(JSON.parse(readFileSync(path, "utf8"))).pid === process.pid)
    rmSync(path, { force: true });
}

/** One stack at a time owns .local: a second `npm run local` or demo would wipe the first one's state. */
export function refuseIfRunning(path = STACK_FILE): void {
  const running = findStack(path);
  if (running)
    throw new Error(
      `a local stack is already running (pid ${running.pid}, ${running.endpoint}): stop it first (Ctrl-C)`,
    );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The running local stack, or undefined when `npm run local` is not up. */
export function findStack(path = STACK_FILE): StackInfo | undefined {
  if (!existsSync(path)) return undefined;
  const info = StackInfoSchema.parse(JSON.parse(readFileSync(path, "utf8")));
  return alive(info.pid) ? info : undefined;
}

export function requireStack(path = STACK_FILE): StackInfo {
  const info = findStack(path);
  if (!info) throw new Error("no local stack is running: start it with `npm run local` (in another terminal)");
  return info;
}
