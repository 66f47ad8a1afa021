// Shared by the end-to-end suites: SDK clients on a local stack, PutEvents entries as the sources send them, and
// what the pipeline leaves behind, read back exactly (tables sorted by key, queues drained, Redis order-book keys).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import { SFNClient } from "@aws-sdk/client-sfn";
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { DynamoDBDocumentClient, GetCommand, QueryCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { Instrument } from "@tradeflow/common/instruments";
import { Redis } from "ioredis";
import { z } from "zod";
import type { EventEnvelope } from "../../local/events/bus";
import { repoRoot } from "../../local/servers";
import { type LocalStack, type LocalStackOptions, startLocalStack } from "../../local/stack";
import type { Execution } from "../../local/stepfunctions/workflow";
import { redisDbUrl } from "./redis-db";

export type Item = Record<string, unknown>;

export interface PipelineClients {
  /** EventBridge at the stack's gateway: PutEvents is the pipeline's entry point. */
  readonly events: EventBridgeClient;
  /** Step Functions at the gateway (StartSyncExecution's `sync-` host prefix disabled, as for any local endpoint). */
  readonly sfn: SFNClient;
  readonly doc: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  readonly ssm: SSMClient;
  destroy(): void;
}

export function pipelineClients(stack: LocalStack): PipelineClients {
  const { region } = stack;
  const events = new EventBridgeClient({ endpoint: stack.endpoint, region });
  const sfn = new SFNClient({ endpoint: stack.endpoint, region, disableHostPrefix: true });
  const dynamo = new DynamoDBClient({ endpoint: stack.dynamoEndpoint, region });
  const doc = DynamoDBDocumentClient.from(dynamo);
  const sqs = new SQSClient({ endpoint: stack.motoEndpoint, region });
  const ssm = new SSMClient({ endpoint: stack.motoEndpoint, region });
  return {
    events,
    sfn,
    doc,
    sqs,
    ssm,
    destroy() {
      for (const client of [events, sfn, dynamo, sqs, ssm]) client.destroy();
    },
  };
}

// ---------------------------------------------------------------- events in

export const ORDERS = "tradeflow.orders";

export interface OrderDetail {
  clientId: string;
  orderId: string;
  symbol: string;
  side: "BUY" | "SELL";
  type?: "LIMIT" | "MARKET";
  price?: string;
  quantity: string;
  timeInForce?: "GTC" | "IOC" | "FOK";
  postOnly?: boolean;
  idempotencyKey?: string;
}

/** An "Order Submitted" entry: a GTC limit order unless the detail says otherwise. */
export function orderSubmitted(bus: string, detail: OrderDetail, time?: Date): PutEventsRequestEntry {
  const type = detail.type ?? "LIMIT";
  const full = type === "LIMIT" ? { type, timeInForce: "GTC", postOnly: false, ...detail } : { type, ...detail };
  return entry(bus, ORDERS, "Order Submitted", full, time);
}

export function cancelRequested(
  bus: string,
  detail: { clientId: string; orderId: string; symbol: string; idempotencyKey?: string },
  time?: Date,
): PutEventsRequestEntry {
  return entry(bus, ORDERS, "Order Cancel Requested", detail, time);
}

export function entry(
  bus: string,
  source: string,
  detailType: string,
  detail: unknown,
  time?: Date,
): PutEventsRequestEntry {
  return {
    EventBusName: bus,
    Source: source,
    DetailType: detailType,
    Detail: JSON.stringify(detail),
    ...(time && { Time: time }),
  };
}

const SampleEntries = z.array(
  z.object({ Source: z.string(), DetailType: z.string(), Detail: z.string(), EventBusName: z.string() }),
);

/** The entries of an events/put-events sample file, sent to `bus` instead of the dev stage's bus. */
export function sampleEntries(file: string, bus: string): PutEventsRequestEntry[] {
  const raw: unknown = JSON.parse(readFileSync(join(repoRoot, "events", "put-events", file), "utf8"));
  return SampleEntries.parse(raw).map((e) => ({ ...e, EventBusName: bus }));
}

/** PutEvents in calls of at most 10 entries; every entry must be accepted. Returns the event ids in order. */
export async function putEvents(events: EventBridgeClient, entries: readonly PutEventsRequestEntry[]) {
  const ids: string[] = [];
  for (let i = 0; i < entries.length; i += 10) {
    const out = await events.send(new PutEventsCommand({ Entries: entries.slice(i, i + 10) }));
    const failed = (out.Entries ?? []).filter((e) => e.ErrorCode);
    if (out.FailedEntryCount || failed.length) throw new Error(`PutEvents refused entries: ${JSON.stringify(failed)}`);
    for (const e of out.Entries ?? []) ids.push(e.EventId ?? "");
  }
  return ids;
}

/** Puts the entries and waits until the stack is idle: every execution ended, the alert queue drained. */
export async function putAndSettle(stack: LocalStack, events: EventBridgeClient, entries: PutEventsRequestEntry[]) {
  const ids = await putEvents(events, entries);
  await stack.idle();
  return ids;
}

/**
 * Puts the entries and waits until their executions (and any they started) have ended; the alert queue may still
 * be draining. Enough when the next step only needs the compliance records.
 */
export async function putAndRun(stack: LocalStack, events: EventBridgeClient, entries: PutEventsRequestEntry[]) {
  const ids = await putEvents(events, entries);
  do {
    await stack.bus.idle();
    await stack.machine.idle();
  } while (stack.bus.busy || stack.machine.runningCount > 0);
  return ids;
}

/** Every distinct epoch-second: trade timestamps (the envelope time) then sort as the events were sent. */
export function clock(startIso: string): (secondsLater: number) => Date {
  const start = Date.parse(startIso);
  return (s) => new Date(start + s * 1000);
}

// ---------------------------------------------------------------- executions

const Envelope = z.object({
  version: z.literal("0"),
  id: z.string(),
  "detail-type": z.string(),
  source: z.string(),
  account: z.string(),
  time: z.string(),
  region: z.string(),
  resources: z.array(z.string()),
  detail: z.record(z.string(), z.unknown()),
});

/** The EventBridge envelope an execution was started with. */
export function envelopeOf(execution: Execution): EventEnvelope {
  return Envelope.parse(JSON.parse(execution.input));
}

/** The executions started for an event id, oldest first. */
export function executionsOf(stack: LocalStack, eventId: string): Execution[] {
  return stack.machine
    .list()
    .filter((e) => envelopeOf(e).id === eventId)
    .reverse();
}

/** The one execution of an event. */
export function executionOf(stack: LocalStack, eventId: string): Execution {
  const found = executionsOf(stack, eventId);
  if (found.length !== 1) throw new Error(`event ${eventId} has ${found.length} executions`);
  return found[0] as Execution;
}

/** The execution's output, parsed. */
export function outputOf(execution: Execution): Item {
  return z.record(z.string(), z.unknown()).parse(JSON.parse(execution.output ?? "null"));
}

// ---------------------------------------------------------------- configuration

/** Adds instruments to the stage's SSM registry; call before the first event (functions cache it for a minute). */
export async function addInstruments(ssm: SSMClient, configPath: string, added: readonly Instrument[]) {
  const Name = `${configPath}/instruments`;
  const { Parameter } = await ssm.send(new GetParameterCommand({ Name }));
  const current = z.array(z.record(z.string(), z.unknown())).parse(JSON.parse(Parameter?.Value ?? "[]"));
  const Value = JSON.stringify([...current, ...added]);
  await ssm.send(new PutParameterCommand({ Name, Value, Type: "String", Overwrite: true }));
}

// ---------------------------------------------------------------- tables

const byKey = (a: Item, b: Item) => {
  const ka = `${String(a.pk)}\u0000${String(a.sk)}`;
  const kb = `${String(b.pk)}\u0000${String(b.sk)}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

/** Every item of a table (consistent reads), sorted by pk then sk. */
export async function scanTable(doc: DynamoDBDocumentClient, table: string): Promise<Item[]> {
  const items: Item[] = [];
  let start: Item | undefined;
  do {
    const page = await doc.send(new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items.sort(byKey);
}

export async function getItem(doc: DynamoDBDocumentClient, table: string, pk: string, sk: string) {
  const { Item } = await doc.send(new GetCommand({ TableName: table, Key: { pk, sk }, ConsistentRead: true }));
  return Item;
}

/** The items of one partition whose sort key starts with `prefix`, in sort-key order. */
export async function queryPartition(doc: DynamoDBDocumentClient, table: string, pk: string, prefix = "") {
  const { Items = [] } = await doc.send(
    new QueryCommand({
      TableName: table,
      ConsistentRead: true,
      KeyConditionExpression: prefix ? "pk = :pk AND begins_with(sk, :prefix)" : "pk = :pk",
      ExpressionAttributeValues: prefix ? { ":pk": pk, ":prefix": prefix } : { ":pk": pk },
    }),
  );
  return Items;
}

/** JSON with object keys sorted at every level: equal strings exactly when the values are equal. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The item without the attributes that record when it was written (not what). */
export function content(item: Item | undefined): Item | undefined {
  if (!item) return item;
  const { recordedAt: _r, updatedAt: _u, contentHash: _c, ...rest } = item;
  return rest;
}

// ---------------------------------------------------------------- queues

export interface QueueCounts {
  visible: number;
  inFlight: number;
  delayed: number;
}

export async function queueCounts(sqs: SQSClient, url: string): Promise<QueueCounts> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
      ],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

/** Receives and deletes every visible message of a queue (with its attributes), until a receive comes back empty. */
export async function drainQueue(sqs: SQSClient, url: string): Promise<Message[]> {
  const drained: Message[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: 30,
        MessageAttributeNames: ["All"],
        MessageSystemAttributeNames: ["All"],
      }),
    );
    if (Messages.length === 0) return drained;
    drained.push(...Messages);
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
  }
}

/** A message's string attributes, by name. */
export function stringAttributes(message: Message): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(message.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue]));
}

const SnsEnvelope = z.object({
  Type: z.literal("Notification"),
  TopicArn: z.string(),
  Subject: z.string().optional(),
  Message: z.string(),
  MessageAttributes: z.record(z.string(), z.object({ Type: z.string(), Value: z.string() })).default({}),
});

/** An SNS notification as an SQS subscriber receives it: subject, the message parsed, attributes by name. */
export function snsNotification(message: Message) {
  const envelope = SnsEnvelope.parse(JSON.parse(message.Body ?? ""));
  return {
    topicArn: envelope.TopicArn,
    subject: envelope.Subject,
    message: z.record(z.string(), z.unknown()).parse(JSON.parse(envelope.Message)),
    attributes: Object.fromEntries(Object.entries(envelope.MessageAttributes).map(([k, v]) => [k, v.Value])),
  };
}

// ---------------------------------------------------------------- Redis

export interface RedisKeyDump {
  key: string;
  type: string;
  encoding: string;
  ttlMs: number;
  /** Every field and value (hash fields sorted; zset members in score order with their scores; strings as is). */
  value: unknown;
}

/**
 * Every key matching `pattern` in the connection's database, sorted, with its type, encoding, TTL and complete
 * value in a canonical order. Not DUMP's bytes: a hash in hashtable encoding serializes in its dict's iteration
 * order, which changes with incremental rehashing that plain reads (HGET) advance, so equal contents can DUMP
 * differently without any write.
 */
export async function redisDump(redis: Redis, pattern: string): Promise<RedisKeyDump[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", "1000");
    keys.push(...batch);
    cursor = next;
  } while (cursor !== "0");
  const out: RedisKeyDump[] = [];
  for (const key of [...new Set(keys)].sort()) {
    const type = await redis.type(key);
    const value =
      type === "hash"
        ? Object.entries(await redis.hgetall(key)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        : type === "zset"
          ? await redis.zrange(key, 0, "-1", "WITHSCORES")
          : type === "string"
            ? await redis.get(key)
            : type === "set"
              ? (await redis.smembers(key)).sort()
              : type === "list"
                ? await redis.lrange(key, 0, -1)
                : `unsupported type ${type}`;
    const encoding = String(await redis.object("ENCODING", key));
    out.push({ key, type, encoding, ttlMs: await redis.pttl(key), value });
  }
  return out;
}

// ---------------------------------------------------------------- determinism and exact sums

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates with the given random source. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** A plain decimal string as an integer count of 10^-scale units (exact; refuses more fractional digits). */
export function scaled(decimal: string, scale = 8): bigint {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(decimal);
  if (!match) throw new Error(`not a plain decimal: ${decimal}`);
  const [, whole = "0", fraction = ""] = match;
  if (fraction.length > scale) throw new Error(`${decimal} has more than ${scale} fractional digits`);
  return BigInt(whole) * 10n ** BigInt(scale) + BigInt(fraction.padEnd(scale, "0") || "0");
}

/**
 * A stack on the integration project's servers, under a stage of the file's own and on a flushed Redis database of
 * its own (./redis-db.ts); its retries compressed to milliseconds unless `timing` says otherwise.
 */
export async function harnessStack(
  stage: string,
  redisDb: number,
  timing: LocalStackOptions["timing"] = { taskRetryMs: 10, eventRetryBaseMs: 10, sqsRetryVisibilitySeconds: 1 },
  options: Pick<LocalStackOptions, "parameters"> = {},
): Promise<LocalStack> {
  const { DYNAMODB_ENDPOINT, MOTO_ENDPOINT } = process.env;
  if (!DYNAMODB_ENDPOINT || !MOTO_ENDPOINT)
    throw new Error("run through the integration project: it starts the servers");
  const redisUrl = redisDbUrl(redisDb);
  const redis = new Redis(redisUrl);
  await redis.flushdb();
  await redis.quit();
  return startLocalStack({
    servers: { redisUrl, dynamoEndpoint: DYNAMODB_ENDPOINT, motoEndpoint: MOTO_ENDPOINT },
    stage,
    timing,
    ...options,
  });
}
