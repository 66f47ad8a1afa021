// A local stack in a process of its own (child_process.fork with an IPC channel), on the servers named in the
// environment: for tests that measure the stack itself (its resident memory) apart from the test runner's heap.
// Messages in: { id, op: "rss" | "idle" | "metrics" | "stop" }; out: { id, value } and, first, { ready: StackInfo }.
import { startLocalStack } from "../../local/stack";
import { stackInfo } from "../../local/stack-file";

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const stack = await startLocalStack({
  servers: {
    redisUrl: env("STACK_REDIS_URL"),
    dynamoEndpoint: env("DYNAMODB_ENDPOINT"),
    motoEndpoint: env("MOTO_ENDPOINT"),
  },
  stage: env("STACK_STAGE"),
  timing: { taskRetryMs: 10, eventRetryBaseMs: 10, sqsRetryVisibilitySeconds: 1 },
  retainExecutions: Number(process.env.STACK_RETAIN_EXECUTIONS ?? 10_000),
});

/**
 * Resident memory with no warm containers (how many a run leaves warm depends on its concurrency, not on what the
 * stack keeps) and after full collections (the process runs with --expose-gc): only what is kept counts.
 */
async function residentBytes(): Promise<number> {
  await stack.functions.reclaimIdle();
  for (let i = 0; i < 3; i++) globalThis.gc?.();
  return process.memoryUsage().rss;
}

process.on("message", (message: { id: number; op: string }) => {
  const answer = (value: unknown) => process.send?.({ id: message.id, value });
  switch (message.op) {
    case "rss":
      return void residentBytes().then(answer);
    case "idle":
      return void stack.idle().then(() => answer(true));
    case "metrics":
      return answer({ ...stack.bus.metrics });
    case "stop":
      return void stack.stop().then(() => {
        answer(true);
        process.disconnect();
      });
  }
});
process.send?.({ ready: stackInfo(stack) });
