// Starts the real local servers once per integration run; their endpoints reach the tests as environment
// variables. Plain ESM (Jest loads global setup untransformed); tsx loads the TypeScript launcher.
import { tsImport } from "tsx/esm/api";

export default async function globalSetup() {
  const { startDynamoDbLocal, startMoto, startRedis } = await tsImport("../../local/servers.ts", import.meta.url);
  const servers = await Promise.all([startRedis(), startDynamoDbLocal(), startMoto()]);
  globalThis.__tradeflowServers = servers;
  const [redis, dynamo, moto] = servers;
  process.env.REDIS_URL = redis.endpoint;
  process.env.DYNAMODB_ENDPOINT = dynamo.endpoint;
  process.env.MOTO_ENDPOINT = moto.endpoint;
  process.env.AWS_REGION ??= "us-east-1";
  process.env.AWS_ACCESS_KEY_ID ??= "testing";
  process.env.AWS_SECRET_ACCESS_KEY ??= "testing";
}
