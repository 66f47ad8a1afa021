// @ts-check
// One cold start in a fresh process: import a bundle, then its first invocation. The environment is the
// function's (bench/coldstart.ts sets it). Prints {"importMs", "invokeMs"} as the last line of stdout.
import { lambdaContext } from "../local/lambda/lambda-context.mjs";

const [bundle, handlerName, event, functionName = "baseline", functionArn = "", memorySize = "128"] =
  process.argv.slice(2);
if (!bundle || !handlerName || !event)
  throw new Error("usage: coldstart-probe.mjs <bundle URL> <handler> <event JSON>");
const started = performance.now();
const module = await import(bundle);
const imported = performance.now();
const context = lambdaContext({
  functionName,
  functionArn,
  memorySize: Number(memorySize),
  deadline: Date.now() + 30_000,
});
await module[handlerName](JSON.parse(event), context);
const invoked = performance.now();
console.log(JSON.stringify({ importMs: imported - started, invokeMs: invoked - imported }));
process.exit(0);
