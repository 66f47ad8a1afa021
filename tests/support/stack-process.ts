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

/** Resident memory after full collections (the process runs with --expose-gc), so that only what is kept counts. */
function residentBytes(): number {
  for (let i = 0; i < 3; i++) globalThis.gc?.();
  return process.memoryUsage().rss;
}

process.on("message", (message: { id: number; op: string }) => {
  const answer = (value: unknown) => process.send?.({ id: message.id, value });
  switch (message.op) {
    case "rss":
      return answer(residentBytes());
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
