// The recorder's and alerter's stack, provisioned from template.yaml on DynamoDB Local and moto, plus observers
// the tests read: a queue subscribed to the alert topic and a queue behind a catch-all rule on the bus.
import { randomUUID } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from "@aws-sdk/client-eventbridge";
import { SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { RecorderDeps } from "@tradeflow/common/recorder";
import type { Context } from "aws-lambda";
import { useFunctionEnvironments } from "../support/function-environment";

export interface RecordingStack {
  readonly complianceTable: string;
  readonly alertsTable: string;
  readonly alertQueueUrl: string;
  readonly alertTopicArn: string;
  readonly busName: string;
  readonly configPath: string;
  /** Receives every AlertTopic message (SNS envelopes with MessageAttributes). */
  readonly topicObserverUrl: string;
  /** Receives every event put on the bus. */
  readonly busObserverUrl: string;
}

export const clients = () => {
  const dynamo = new DynamoDBClient({});
  return {
    dynamo,
    doc: DynamoDBDocumentClient.from(dynamo),
    sqs: new SQSClient({}),
    sns: new SNSClient({}),
    events: new EventBridgeClient({}),
    ssm: new SSMClient({}),
  };
};

function required(value: string | undefined, what: string): string {
  if (!value) throw new Error(`the provisioned stack has no ${what}`);
  return value;
}

/**
 * Provisions the template under a fresh stage, sets the recorder's and alerter's environment as the template
 * does and points every SDK client at the local servers: call before importing either handler.
 */
export async function createRecordingStack(): Promise<RecordingStack> {
  const stage = `rec${randomUUID().slice(0, 8)}`;
  const stack = await useFunctionEnvironments(stage, "RecorderFunction", "AlerterFunction");
  process.env.AWS_ENDPOINT_URL = required(process.env.MOTO_ENDPOINT, "moto endpoint");
  const { sqs, sns, events, ssm } = clients();

  const queue = async (name: string) => (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
  const arnOf = async (url: string) =>
    (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }))).Attributes!
      .QueueArn!;
  const alertTopicArn = required(stack.topics.AlertTopic, "AlertTopic");
  const topicObserverUrl = await queue(`${stage}-topic-observer`);
  await sns.send(
    new SubscribeCommand({ TopicArn: alertTopicArn, Protocol: "sqs", Endpoint: await arnOf(topicObserverUrl) }),
  );
  const busObserverUrl = await queue(`${stage}-bus-observer`);
  await events.send(
    new PutRuleCommand({
      Name: "observe-all",
      EventBusName: stack.bus,
      EventPattern: JSON.stringify({ account: [{ exists: true }] }),
    }),
  );
  await events.send(
    new PutTargetsCommand({
      Rule: "observe-all",
      EventBusName: stack.bus,
      Targets: [{ Id: "observer", Arn: await arnOf(busObserverUrl) }],
    }),
  );
  // A per-symbol override beside the template's default pair, for the alerter's tests.
  await ssm.send(
    new PutParameterCommand({
      Name: `${stack.configPath}/alert-thresholds`,
      Value: JSON.stringify({
        default: { high: "150", low: "50" },
        symbols: { "BTC-USD": { high: "70000", low: "50000" } },
      }),
      Type: "String",
      Overwrite: true,
    }),
  );

  return {
    complianceTable: required(stack.tables.ComplianceTable, "ComplianceTable"),
    alertsTable: required(stack.tables.AlertsTable, "AlertsTable"),
    alertQueueUrl: required(stack.queues.AlertQueue, "AlertQueue"),
    alertTopicArn,
    busName: stack.bus,
    configPath: stack.configPath,
    topicObserverUrl,
    busObserverUrl,
  };
}

/** The recorder's dependencies on this stack, with fresh clients. */
export function recorderDeps(stack: RecordingStack, overrides: Partial<RecorderDeps> = {}): RecorderDeps {
  const { doc, events, sqs } = clients();
  return {
    db: doc,
    events,
    sqs,
    tableName: stack.complianceTable,
    busName: stack.busName,
    alertQueueUrl: stack.alertQueueUrl,
    now: () => new Date(),
    ...overrides,
  };
}

/** Every item of a table, sorted by key: two scans are equal exactly when nothing was written in between. */
export async function scanAll(table: string): Promise<Record<string, unknown>[]> {
  const { doc } = clients();
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  const key = (i: Record<string, unknown>) => `${String(i.pk)}\u0000${String(i.sk)}`;
  return items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** Drains a queue: every message body currently in it, oldest first as far as SQS tells. */
export async function drain(queueUrl: string): Promise<string[]> {
  const { sqs } = clients();
  const bodies: string[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    if (Messages.length === 0) return bodies;
    bodies.push(...Messages.map((m) => m.Body ?? ""));
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
  }
}

/** The Lambda context a local invocation gets. */
export function lambdaContext(functionName: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: "256",
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "local",
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
