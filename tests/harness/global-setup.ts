// Starts the real local servers once per integration run; their endpoints reach the tests as environment variables.
import { type LocalServer, startDynamoDbLocal, startMoto, startRedis } from "../../local/servers";

declare global {
  var __tradeflowServers: LocalServer[] | undefined;
}

export default async function globalSetup(): Promise<void> {
  const [redis, dynamo, moto] = await Promise.all([startRedis(), startDynamoDbLocal(), startMoto()]);
  globalThis.__tradeflowServers = [redis, dynamo, moto];
  process.env.REDIS_URL = redis.endpoint;
  process.env.DYNAMODB_ENDPOINT = dynamo.endpoint;
  process.env.MOTO_ENDPOINT = moto.endpoint;
  process.env.AWS_REGION ??= "us-east-1";
  process.env.AWS_ACCESS_KEY_ID ??= "testing";
  process.env.AWS_SECRET_ACCESS_KEY ??= "testing";
  process.env.POWERTOOLS_DEV = "true";
  process.env.POWERTOOLS_TRACE_ENABLED = "false";
  process.env.POWERTOOLS_LOG_LEVEL ??= "ERROR";
}
