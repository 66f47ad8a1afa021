// @ts-check
// The context object Lambda's Node.js runtime passes a handler, for the local containers and the cold-start probe.
import { randomUUID } from "node:crypto";

/**
 * @param {{ functionName: string, functionArn: string, memorySize: number, deadline: number }} fn
 */
export function lambdaContext({ functionName, functionArn, memorySize, deadline }) {
  return {
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
}
