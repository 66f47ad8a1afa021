// A stand-in function bundle for the container tests (tests/unit/functions.test.ts). It reports which container
// (worker thread) ran the invocation, how many that container has run and when; on request it sleeps, writes a
// file once it wakes, makes HTTP requests, or ends its runtime.
import { writeFileSync } from "node:fs";
import { get } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { threadId } from "node:worker_threads";

let invocations = 0;

export const handler = async (event) => {
  invocations += 1;
  const startedAt = Date.now();
  if (event.exitCode !== undefined) process.exit(event.exitCode);
  await sleep(event.sleepMs ?? 0);
  if (event.writeFile) writeFileSync(event.writeFile, "the handler ran to its end");
  // node:http, as the AWS SDK's default handler uses it.
  for (const url of event.get ?? []) await new Promise((done) => get(url, (res) => res.resume().on("end", done)));
  return { container: threadId, invocations, startedAt, endedAt: Date.now() };
};
