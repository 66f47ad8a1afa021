// @ts-check
// One function's container: a worker thread with the function's own environment (process.env) that imports its
// bundle once and serves invocations one at a time (the host sends the next only after this one's reply), as
// Lambda's Node.js runtime does. Errors go back as Lambda reports them: errorType (the error's name), errorMessage
// and trace.
import { randomUUID } from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";

const { bundle, handlerName, functionName, functionArn, memorySize } = workerData;
const module = await import(bundle);
const handler = module[handlerName];
if (typeof handler !== "function") throw new Error(`${bundle} exports no function ${handlerName}`);

parentPort?.on("message", async ({ payload, deadline }) => {
  const context = {
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: functionArn,
    memoryLimitInMB: String(memorySize),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/[$LATEST]${functionName}`,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
  try {
    const result = await handler(JSON.parse(payload), context);
    parentPort?.postMessage({ ok: true, payload: JSON.stringify(result ?? null) });
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    const trace = (error.stack ?? "").split("\n");
    parentPort?.postMessage({ ok: false, errorType: error.name, errorMessage: error.message, trace });
  }
});
parentPort?.postMessage({ ready: true });
