// Prepares this process to run functions' real handlers against the local stack: provisions template.yaml under
// a stage of the test's own, sets each function's environment as the template does, and points the AWS SDK at
// DynamoDB Local and moto. Call before importing the handlers (they read their environment at load).
import { functionEnvironments } from "../../local/lambda/functions";
import { type ProvisionedResources, provisionFromTemplate } from "../../local/provision";
import { loadTemplate } from "../../local/template";

export async function useFunctionEnvironments(stage: string, ...logicalIds: string[]): Promise<ProvisionedResources> {
  const { DYNAMODB_ENDPOINT, MOTO_ENDPOINT, REDIS_URL, AWS_REGION } = process.env;
  if (!DYNAMODB_ENDPOINT || !MOTO_ENDPOINT || !REDIS_URL) {
    throw new Error("run through the integration project: it starts redis-server, DynamoDB Local and moto");
  }
  const stack = await provisionFromTemplate(loadTemplate(), {
    dynamoEndpoint: DYNAMODB_ENDPOINT,
    motoEndpoint: MOTO_ENDPOINT,
    region: AWS_REGION ?? "us-east-1",
    stage,
  });
  const environments = functionEnvironments(stack, { redisUrl: REDIS_URL });
  for (const logicalId of logicalIds) {
    const environment = environments[logicalId];
    if (!environment) throw new Error(`template.yaml has no function ${logicalId}`);
    Object.assign(process.env, environment);
  }
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: DYNAMODB_ENDPOINT,
    AWS_ENDPOINT_URL_SSM: MOTO_ENDPOINT,
    POWERTOOLS_LOG_LEVEL: "ERROR",
  });
  return stack;
}
