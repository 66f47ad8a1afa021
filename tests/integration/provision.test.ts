// provisionFromTemplate against DynamoDB Local and moto: what it creates is what template.yaml declares.
import { DescribeTableCommand, DescribeTimeToLiveCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DescribeEventBusCommand, EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { GetTopicAttributesCommand, SNSClient } from "@aws-sdk/client-sns";
import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { SAMPLE_INSTRUMENTS } from "../../layers/common/src/instruments";
import { DEFAULT_LOCAL_CONCURRENCY, functionEnvironments, localFunctions } from "../../local/lambda/functions";
import { type ProvisionedResources, provisionFromTemplate } from "../../local/provision";
import { workflowDefinition } from "../../local/stepfunctions/machine";
import { loadTemplate } from "../../local/template";

const region = process.env.AWS_REGION ?? "us-east-1";
const dynamoEndpoint = process.env.DYNAMODB_ENDPOINT ?? "";
const motoEndpoint = process.env.MOTO_ENDPOINT ?? "";
const options = { dynamoEndpoint, motoEndpoint, region, stage: "provtest" };
const template = loadTemplate();

const dynamo = new DynamoDBClient({ endpoint: dynamoEndpoint, region });
const moto = { endpoint: motoEndpoint, region };
const sqs = new SQSClient(moto);

let stack: ProvisionedResources;

beforeAll(async () => {
  stack = await provisionFromTemplate(template, options);
});

async function queueAttributes(logicalId: string): Promise<Record<string, string>> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: stack.queues[logicalId], AttributeNames: ["All"] }),
  );
  return Attributes ?? {};
}

test("is idempotent: a second run finds the same resources", async () => {
  const again = await provisionFromTemplate(template, options);
  expect(again.tables).toEqual(stack.tables);
  expect(again.queues).toEqual(stack.queues);
  expect(again.topics).toEqual(stack.topics);
  expect(again.secrets).toEqual(stack.secrets);
  expect(again.bus).toBe(stack.bus);
});

test("names everything after the stage", () => {
  expect(stack.tables).toEqual({
    ComplianceTable: "tradeflow-provtest-compliance",
    AlertsTable: "tradeflow-provtest-alerts",
  });
  expect(stack.bus).toBe("tradeflow-provtest");
  expect(stack.configPath).toBe("/tradeflow/provtest");
  expect(Object.keys(stack.queues).sort()).toEqual([
    "AlertDeadLetterQueue",
    "AlertQueue",
    "EventRuleDeadLetterQueue",
    "FailedExecutionsQueue",
  ]);
  expect(Object.keys(stack.topics).sort()).toEqual(["AlertTopic", "OpsTopic"]);
});

test("the compliance table has the global table's keys, both GSIs and a NEW_AND_OLD_IMAGES stream", async () => {
  const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: stack.tables.ComplianceTable }));
  expect(Table?.KeySchema).toEqual([
    { AttributeName: "pk", KeyType: "HASH" },
    { AttributeName: "sk", KeyType: "RANGE" },
  ]);
  const indexes = Object.fromEntries(
    (Table?.GlobalSecondaryIndexes ?? []).map((i) => [i.IndexName, [i.KeySchema, i.Projection?.ProjectionType]]),
  );
  expect(indexes).toEqual({
    bySymbolTime: [
      [
        { AttributeName: "gsi1pk", KeyType: "HASH" },
        { AttributeName: "gsi1sk", KeyType: "RANGE" },
      ],
      "ALL",
    ],
    byClientTime: [
      [
        { AttributeName: "gsi2pk", KeyType: "HASH" },
        { AttributeName: "gsi2sk", KeyType: "RANGE" },
      ],
      "ALL",
    ],
  });
  expect(Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES" });
});

test("the alerts table expires items on expiresAt", async () => {
  const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: stack.tables.AlertsTable }));
  expect(Table?.KeySchema?.map((k) => k.AttributeName)).toEqual(["pk", "sk"]);
  const { TimeToLiveDescription } = await dynamo.send(
    new DescribeTimeToLiveCommand({ TableName: stack.tables.AlertsTable }),
  );
  expect(TimeToLiveDescription).toMatchObject({ AttributeName: "expiresAt", TimeToLiveStatus: "ENABLED" });
});

test("the alert queue redrives to its dead-letter queue after 5 receives", async () => {
  const alerts = await queueAttributes("AlertQueue");
  const dlq = await queueAttributes("AlertDeadLetterQueue");
  expect(JSON.parse(alerts.RedrivePolicy ?? "{}")).toEqual({
    deadLetterTargetArn: dlq.QueueArn,
    maxReceiveCount: 5,
  });
  expect(alerts.VisibilityTimeout).toBe("180");
  expect(dlq.MessageRetentionPeriod).toBe("1209600");
  expect((await queueAttributes("EventRuleDeadLetterQueue")).MessageRetentionPeriod).toBe("1209600");
});

test("topics, bus and the Redis AUTH secret exist in moto", async () => {
  const sns = new SNSClient(moto);
  for (const arn of Object.values(stack.topics)) {
    await expect(sns.send(new GetTopicAttributesCommand({ TopicArn: arn }))).resolves.toBeDefined();
  }
  const bus = await new EventBridgeClient(moto).send(new DescribeEventBusCommand({ Name: stack.bus }));
  expect(bus.Name).toBe(stack.bus);
  const secretArn = stack.secrets.RedisAuthSecret ?? "";
  const { SecretString } = await new SecretsManagerClient(moto).send(
    new GetSecretValueCommand({ SecretId: secretArn }),
  );
  const token: unknown = JSON.parse(SecretString ?? "{}").authToken;
  expect(token).toMatch(/^[!#-.0-?A-[\]-_a-~]{64}$/);
});

test("the SSM parameters hold the template's defaults, overrides applied", async () => {
  const ssm = new SSMClient(moto);
  const value = async (logicalId: string) =>
    JSON.parse(
      (await ssm.send(new GetParameterCommand({ Name: stack.parameters[logicalId] }))).Parameter?.Value ?? "null",
    );
  expect(stack.parameters.InstrumentsParameter).toBe("/tradeflow/provtest/instruments");
  expect(await value("InstrumentsParameter")).toEqual(SAMPLE_INSTRUMENTS);
  expect(await value("AlertThresholdsParameter")).toEqual({ default: { high: "150", low: "50" }, symbols: {} });

  const tuned = await provisionFromTemplate(template, {
    ...options,
    stage: "provtuned",
    parameters: { AlertHighThreshold: "175" },
  });
  const thresholds = await ssm.send(new GetParameterCommand({ Name: tuned.parameters.AlertThresholdsParameter }));
  expect(JSON.parse(thresholds.Parameter?.Value ?? "null").default).toEqual({ high: "175", low: "50" });
});

test("each function's environment is the template's, pointed at the local stack", () => {
  const env = functionEnvironments(stack, { redisUrl: "redis://127.0.0.1:6390" });
  const common = {
    POWERTOOLS_SERVICE_NAME: "tradeflow",
    POWERTOOLS_METRICS_NAMESPACE: "Tradeflow",
    POWERTOOLS_LOG_LEVEL: "INFO",
    CONFIG_PATH: "/tradeflow/provtest",
  };
  expect(env.ValidatorFunction).toEqual(common);
  expect(env.RecorderFunction).toEqual({
    ...common,
    COMPLIANCE_TABLE: stack.tables.ComplianceTable,
    EVENT_BUS_NAME: stack.bus,
    ALERT_QUEUE_URL: stack.queues.AlertQueue,
  });
  expect(env.AlerterFunction).toEqual({
    ...common,
    ALERTS_TABLE: stack.tables.AlertsTable,
    ALERT_TOPIC_ARN: stack.topics.AlertTopic,
  });
  const redis = { REDIS_URL: "redis://127.0.0.1:6390", REDIS_CLUSTER: "false" };
  expect(env.EnricherFunction).toEqual({ ...common, ...redis });
  expect(env.MatcherFunction).toEqual({ ...common, ...redis, IDEMPOTENCY_TTL_SECONDS: "86400" });

  const withAuth = functionEnvironments(stack, { redisUrl: "redis://127.0.0.1:6390", redisAuth: true });
  expect(withAuth.MatcherFunction?.REDIS_AUTH_SECRET_ARN).toBe(stack.secrets.RedisAuthSecret);
});

test("the workflow's Task resources map to the template's functions", () => {
  const { definition, functionsByArn } = workflowDefinition(stack);
  const text = JSON.stringify(definition);
  expect(text).not.toMatch(/\$\{/);
  expect(text).toContain(stack.queues.FailedExecutionsQueue);
  const resources = [...text.matchAll(/"Resource":"([^"]+)"/g)].map((m) => m[1] ?? "");
  const invoked = resources.filter((r) => r.startsWith("arn:aws:lambda:")).map((r) => functionsByArn[r]);
  expect(new Set(invoked)).toEqual(
    new Set(["ValidatorFunction", "MatcherFunction", "EnricherFunction", "RecorderFunction"]),
  );
});

describe("functions: concurrency and timeouts", () => {
  const redisUrl = "redis://127.0.0.1:6390";
  const by = (functions: ReturnType<typeof localFunctions>, field: "concurrency" | "timeoutSeconds") =>
    Object.fromEntries(functions.map((fn) => [fn.logicalId, fn[field]]));
  const reserved = Number(template.Parameters.MatcherReservedConcurrency?.Default);
  const saved = process.env.TRADEFLOW_LOCAL_CONCURRENCY;
  afterEach(() => {
    if (saved === undefined) delete process.env.TRADEFLOW_LOCAL_CONCURRENCY;
    else process.env.TRADEFLOW_LOCAL_CONCURRENCY = saved;
  });

  test("the matcher scales to its reserved concurrency; the others to the local cap", () => {
    delete process.env.TRADEFLOW_LOCAL_CONCURRENCY;
    const cap = DEFAULT_LOCAL_CONCURRENCY;
    expect(reserved).toBeGreaterThan(0);
    expect(by(localFunctions(stack, { redisUrl }), "concurrency")).toEqual({
      ValidatorFunction: cap,
      EnricherFunction: cap,
      MatcherFunction: reserved,
      RecorderFunction: cap,
      AlerterFunction: cap,
      QueryFunction: cap,
    });
  });

  test("the local cap comes from the runtime options, else TRADEFLOW_LOCAL_CONCURRENCY", () => {
    process.env.TRADEFLOW_LOCAL_CONCURRENCY = "5";
    expect(by(localFunctions(stack, { redisUrl }), "concurrency")).toMatchObject({
      ValidatorFunction: 5,
      MatcherFunction: reserved,
    });
    expect(by(localFunctions(stack, { redisUrl, concurrency: 2 }), "concurrency")).toMatchObject({
      ValidatorFunction: 2,
      MatcherFunction: reserved,
    });
  });

  test("with MatcherReservedConcurrency 0 the condition drops the reservation, and the matcher gets the cap", () => {
    const unreserved = {
      ...stack,
      templateParameters: { ...stack.templateParameters, MatcherReservedConcurrency: "0" },
    };
    expect(by(localFunctions(unreserved, { redisUrl, concurrency: 3 }), "concurrency").MatcherFunction).toBe(3);
  });

  test("timeouts are the template's (the function's own, else Globals) unless the runtime overrides one", () => {
    const fromTemplate = Object.fromEntries(
      Object.entries(template.Resources)
        .filter(([, r]) => r.Type === "AWS::Serverless::Function")
        .map(([id, r]) => [id, Number(r.Properties.Timeout ?? template.Globals.Function.Timeout)]),
    );
    expect(Object.values(fromTemplate).every((t) => t > 2)).toBe(true);
    expect(by(localFunctions(stack, { redisUrl }), "timeoutSeconds")).toEqual(fromTemplate);
    const overridden = localFunctions(stack, { redisUrl, timeoutSeconds: { RecorderFunction: 2 } });
    expect(by(overridden, "timeoutSeconds")).toEqual({ ...fromTemplate, RecorderFunction: 2 });
  });
});
