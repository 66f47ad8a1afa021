// @ts-check
// One function's container: a worker thread with the function's own environment (process.env) that imports its
// bundle once and serves invocations one at a time (the host sends the next only after this one's reply), as
// Lambda's Node.js runtime does. Errors go back as Lambda reports them: errorType (the error's name), errorMessage
// and trace. Each reply also says what the invocation cost: this thread's CPU time and the HTTP requests it made,
// by host, so the host can tell what a function costs in CPU and AWS calls.
import { subscribe } from "node:diagnostics_channel";
import { parentPort, workerData } from "node:worker_threads";
import { lambdaContext } from "./lambda-context.mjs";

const { bundle, handlerName, functionName, functionArn, memorySize } = workerData;
const module = await import(bundle);
const handler = module[handlerName];
if (typeof handler !== "function") throw new Error(`${bundle} exports no function ${handlerName}`);

/** @type {Record<string, number>} */
let requests = {};
subscribe("http.client.request.start", (message) => {
  const { request } = /** @type {{ request: import("node:http").ClientRequest }} */ (message);
  const host = String(request.getHeader("host") ?? request.host);
  requests[host] = (requests[host] ?? 0) + 1;
});

parentPort?.on("message", async ({ payload, deadline }) => {
  requests = {};
  const started = process.threadCpuUsage();
  const cost = () => {
    const { user, system } = process.threadCpuUsage(started);
    return { requests, cpuMicros: user + system };
  };
  const context = lambdaContext({ functionName, functionArn, memorySize, deadline });
  try {
    const result = await handler(JSON.parse(payload), context);
    parentPort?.postMessage({ ok: true, payload: JSON.stringify(result ?? null), ...cost() });
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    const trace = (error.stack ?? "").split("\n");
    parentPort?.postMessage({ ok: false, errorType: error.name, errorMessage: error.message, trace, ...cost() });
  }
});
parentPort?.postMessage({ ready: true });
