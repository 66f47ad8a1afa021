// @ts-check
// One function's warm container: a worker thread with the function's own environment (process.env) that imports
// its bundle once and serves invocations, as Lambda's Node.js runtime does. Errors go back as Lambda reports
// them: errorType (the error's name), errorMessage and trace.
import { parentPort, workerData } from "node:worker_threads";
import { lambdaContext } from "./lambda-context.mjs";

const { bundle, handlerName, functionName, functionArn, memorySize } = workerData;
const module = await import(bundle);
const handler = module[handlerName];
if (typeof handler !== "function") throw new Error(`${bundle} exports no function ${handlerName}`);

parentPort?.on("message", async ({ id, payload, deadline }) => {
  const context = lambdaContext({ functionName, functionArn, memorySize, deadline });
  try {
    const result = await handler(JSON.parse(payload), context);
    parentPort?.postMessage({ id, ok: true, payload: JSON.stringify(result ?? null) });
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    const trace = (error.stack ?? "").split("\n");
    parentPort?.postMessage({ id, ok: false, errorType: error.name, errorMessage: error.message, trace });
  }
});
parentPort?.postMessage({ ready: true });
