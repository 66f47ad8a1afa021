// A stand-in function bundle for the container tests (tests/unit/functions.test.ts). It reports which container
// (worker thread) ran the invocation, how many that container has run and when; on request it sleeps, writes a
// file once it wakes, makes HTTP requests, or ends its runtime.
import { writeFileSync } from "node:fs";
import { get } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { threadId } from "node:worker_threads";

// A slow cold start on request, and when the container became ready.
await sleep(Number(process.env.PROBE_START_MS ?? 0));
const readyAt = Date.now();
let invocations = 0;

export const handler = async (event) => {
  invocations += 1;
  const startedAt = Date.now();
  if (event.exitCode !== undefined) process.exit(event.exitCode);
  await sleep(event.sleepMs ?? 0);
  if (event.writeFile) writeFileSync(event.writeFile, "the handler ran to its end");
  // node:http, as the AWS SDK's default handler uses it.
  for (const url of event.get ?? []) await new Promise((done) => get(url, (res) => res.resume().on("end", done)));
  return { container: threadId, invocations, readyAt, startedAt, endedAt: Date.now() };
};
