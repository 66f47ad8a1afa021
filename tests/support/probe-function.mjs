// A stand-in function bundle for the container tests (tests/unit/functions.test.ts). It reports which container
// (worker thread) ran the invocation, how many that container has run and when; on request it sleeps, writes a
// file once it wakes, or ends its runtime.
import { writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { threadId } from "node:worker_threads";

let invocations = 0;

export const handler = async (event) => {
  invocations += 1;
  const startedAt = Date.now();
  if (event.exitCode !== undefined) process.exit(event.exitCode);
  await sleep(event.sleepMs ?? 0);
  if (event.writeFile) writeFileSync(event.writeFile, "the handler ran to its end");
  return { container: threadId, invocations, startedAt, endedAt: Date.now() };
};
