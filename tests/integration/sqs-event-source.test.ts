// The local SQS event source mapping (local/lambda/sqs-event-source.ts) against moto: batching, partial batch responses,
// retries and redrive to the dead-letter queue, concurrency and shutdown.
import { createHash, randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import {
  readBatchResponse,
  type SqsBatchReport,
  SqsEventSource,
  type SqsEventSourceOptions,
} from "../../local/lambda/sqs-event-source";

const region = process.env.AWS_REGION ?? "us-east-1";
const sqs = new SQSClient({ endpoint: process.env.MOTO_ENDPOINT, region });
const md5 = (text: string) => createHash("md5").update(text).digest("hex");

interface Queues {
  url: string;
  arn: string;
  dlqUrl: string;
}

const createdQueues: string[] = [];
const sources: SqsEventSource[] = [];

afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
});

afterAll(async () => {
  await Promise.all(createdQueues.map((QueueUrl) => sqs.send(new DeleteQueueCommand({ QueueUrl }))));
  sqs.destroy();
});

async function arnOf(url: string): Promise<string> {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }));
  return Attributes!.QueueArn!;
}

/** A source queue (visibility timeout in seconds) redriving to its own DLQ after maxReceiveCount receives. */
async function createQueues(visibilityTimeout: number, maxReceiveCount: number): Promise<Queues> {
  const name = `ses-${randomUUID().slice(0, 8)}`;
  const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }))).QueueUrl!;
  createdQueues.push(dlqUrl);
  const url = (
    await sqs.send(
      new CreateQueueCommand({
        QueueName: name,
        Attributes: {
          VisibilityTimeout: String(visibilityTimeout),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await arnOf(dlqUrl), maxReceiveCount }),
        },
      }),
    )
  ).QueueUrl!;
  createdQueues.push(url);
  return { url, arn: await arnOf(url), dlqUrl };
}

/** Sends the bodies in order; returns each body's message id. */
async function send(
  url: string,
  bodies: string[],
  attributes: Record<string, Record<string, MessageAttributeValue>> = {},
): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (let i = 0; i < bodies.length; i += 10) {
    const chunk = bodies.slice(i, i + 10);
    const { Successful = [], Failed = [] } = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: chunk.map((body, j) => ({ Id: String(j), MessageBody: body, MessageAttributes: attributes[body] })),
      }),
    );
    expect(Failed).toEqual([]);
    for (const s of Successful) ids.set(chunk[Number(s.Id)]!, s.MessageId!);
  }
  return ids;
}

/** Every message now in the queue (left invisible, so each is read once). */
async function drain(url: string): Promise<Message[]> {
  const all: Message[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 60, WaitTimeSeconds: 0 }),
    );
    if (Messages.length === 0) return all;
    all.push(...Messages);
  }
}

async function queueCounts(url: string): Promise<{ visible: number; notVisible: number }> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages),
    notVisible: Number(Attributes.ApproximateNumberOfMessagesNotVisible),
  };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    sleep(ms).then(() => {
      throw new Error(`${what} took longer than ${ms} ms`);
    }),
  ]);
}

interface Invocation {
  at: number;
  records: SQSRecord[];
}

/** Starts an event source on the queues; records invocations, reports and log lines. */
function startSource(
  queues: Queues,
  handler: (event: SQSEvent, call: number) => Promise<unknown>,
  options: Partial<Omit<SqsEventSourceOptions, "invoke">> = {},
) {
  const invocations: Invocation[] = [];
  const reports: SqsBatchReport[] = [];
  const logs: string[] = [];
  const source = new SqsEventSource({
    sqs,
    queueUrl: queues.url,
    queueArn: queues.arn,
    region,
    batchSize: 10,
    maximumBatchingWindowSeconds: 0,
    maximumConcurrency: 2,
    reportBatchItemFailures: true,
    invoke: (event) => {
      invocations.push({ at: Date.now(), records: event.Records });
      return handler(event, invocations.length);
    },
    onBatch: (report) => reports.push(report),
    logger: {
      warn: (message) => logs.push(`warn: ${message}`),
      error: (message, detail) => logs.push(`error: ${message} ${String(detail.error ?? "")}`),
    },
    ...options,
  });
  sources.push(source);
  source.start();
  /** Each body's deliveries, as ApproximateReceiveCount values in delivery order. */
  const deliveries = () => {
    const byBody = new Map<string, string[]>();
    for (const { records } of invocations) {
      for (const r of records)
        byBody.set(r.body, [...(byBody.get(r.body) ?? []), r.attributes.ApproximateReceiveCount]);
    }
    return byBody;
  };
  return { source, invocations, reports, logs, deliveries };
}

const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

test("delivers Lambda-shaped records once each and deletes successful batches", async () => {
  const queues = await createQueues(30, 2);
  const bodies = range("m", 25);
  const ids = await send(queues.url, bodies, {
    "m-0": {
      text: { DataType: "String", StringValue: "hello" },
      count: { DataType: "Number", StringValue: "42" },
      raw: { DataType: "Binary", BinaryValue: new Uint8Array([1, 2, 3]) },
      price: { DataType: "Number.float", StringValue: "1.5" },
    },
  });
  // Without ReportBatchItemFailures a batch item failure answer means nothing: the whole batch succeeded.
  const { source, invocations, reports, logs, deliveries } = startSource(
    queues,
    async (event) => ({ batchItemFailures: [{ itemIdentifier: event.Records[0]!.messageId }] }),
    { reportBatchItemFailures: false },
  );
  await within(source.idle(), 15_000, "idle");

  expect(deliveries()).toEqual(new Map(bodies.map((b) => [b, ["1"]])));
  expect(invocations.every((i) => i.records.length >= 1 && i.records.length <= 10)).toBe(true);
  expect(reports.every((r) => r.failed === 0 && r.undeleted === 0 && r.error === undefined)).toBe(true);
  expect(reports.reduce((n, r) => n + r.received, 0)).toBe(25);

  const records = invocations.flatMap((i) => i.records);
  const first = records.find((r) => r.body === "m-0")!;
  expect(first).toEqual({
    messageId: ids.get("m-0"),
    receiptHandle: expect.any(String),
    body: "m-0",
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: expect.stringMatching(/^\d{13}$/),
      SenderId: expect.any(String),
      ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d{13}$/),
    },
    messageAttributes: {
      text: { stringValue: "hello", stringListValues: [], binaryListValues: [], dataType: "String" },
      count: { stringValue: "42", stringListValues: [], binaryListValues: [], dataType: "Number" },
      raw: { binaryValue: "AQID", stringListValues: [], binaryListValues: [], dataType: "Binary" },
      price: { stringValue: "1.5", stringListValues: [], binaryListValues: [], dataType: "Number.float" },
    },
    md5OfMessageAttributes: expect.stringMatching(/^[0-9a-f]{32}$/),
    md5OfBody: md5("m-0"),
    eventSource: "aws:sqs",
    eventSourceARN: queues.arn,
    awsRegion: region,
  });
  const plain = records.find((r) => r.body === "m-1")!;
  expect(plain.messageAttributes).toEqual({});
  expect(plain.md5OfMessageAttributes).toBeUndefined();
  expect(plain.messageId).toBe(ids.get("m-1"));

  expect(await queueCounts(queues.url)).toEqual({ visible: 0, notVisible: 0 });
  expect(await drain(queues.dlqUrl)).toEqual([]);
  expect(logs).toEqual([]);
});

test("gathers several receives up to batchSize and holds a smaller batch for the window", async () => {
  const queues = await createQueues(30, 2);
  await send(queues.url, range("a", 30));
  const { source, invocations, logs } = startSource(queues, async () => undefined, {
    batchSize: 25,
    maximumBatchingWindowSeconds: 2,
  });
  const started = Date.now();
  await within(source.idle(), 15_000, "idle");
  expect(invocations.map((i) => i.records.length)).toEqual([25, 5]);
  // A full batch goes at once; the 5 left over wait out the window opened by their receive.
  expect(invocations[0]!.at - started).toBeLessThan(1500);
  expect(invocations[1]!.at - invocations[0]!.at).toBeGreaterThanOrEqual(1900);
  expect(invocations[1]!.at - invocations[0]!.at).toBeLessThan(3500);

  // Messages trickling in during the window join its batch.
  const sent = Date.now();
  await send(queues.url, range("b", 3));
  await sleep(700);
  await send(queues.url, range("c", 2));
  await within(source.idle(), 15_000, "idle");
  expect(invocations.slice(2).map((i) => i.records.map((r) => r.body).sort())).toEqual([
    ["b-0", "b-1", "b-2", "c-0", "c-1"],
  ]);
  expect(invocations[2]!.at - sent).toBeGreaterThanOrEqual(1900);
  expect(logs).toEqual([]);
});

test("partial batch failures: only the failed messages come back, then go to the DLQ with their bodies", async () => {
  // The queue's 30 s visibility timeout would make this a minute; retryVisibilitySeconds compresses it.
  const queues = await createQueues(30, 2);
  const bodies = [...range("ok", 7), ...range("bad", 3)];
  const ids = await send(queues.url, bodies);
  const { source, reports, logs, deliveries } = startSource(
    queues,
    async (event) => ({
      batchItemFailures: event.Records.filter((r) => r.body.startsWith("bad")).map((r) => ({
        itemIdentifier: r.messageId,
      })),
    }),
    { retryVisibilitySeconds: 1 },
  );
  await within(source.idle(), 20_000, "idle");

  const seen = deliveries();
  for (const body of range("ok", 7)) expect(seen.get(body)).toEqual(["1"]);
  for (const body of range("bad", 3)) expect(seen.get(body)).toEqual(["1", "2"]);
  expect(reports.reduce((n, r) => n + r.failed, 0)).toBe(6);
  expect(reports.every((r) => r.error === undefined && r.undeleted === 0)).toBe(true);

  const dead = await drain(queues.dlqUrl);
  expect(dead.map((m) => [m.Body, m.MessageId]).sort()).toEqual(range("bad", 3).map((b) => [b, ids.get(b)]));
  expect(await queueCounts(queues.url)).toEqual({ visible: 0, notVisible: 0 });
  expect(logs).toEqual([]);
});

test("an invalid partial batch response fails the whole batch, as Lambda does", async () => {
  const queues = await createQueues(30, 5);
  await send(queues.url, ["x", "y"]);
  const answers: ((records: SQSRecord[]) => unknown)[] = [
    // One real id and one unknown: a naive reading would delete "y".
    (records) => ({ batchItemFailures: [{ itemIdentifier: records[0]!.messageId }, { itemIdentifier: "nope" }] }),
    () => ({ batchItemFailures: [{ itemIdentifier: "" }] }),
    () => ({ batchItemFailures: [] }),
  ];
  const { source, invocations, reports, logs, deliveries } = startSource(
    queues,
    async (event, call) => answers[call - 1]?.(event.Records),
    // The window keeps both messages in one batch each time.
    { retryVisibilitySeconds: 0, maximumBatchingWindowSeconds: 1 },
  );
  await within(source.idle(), 20_000, "idle");

  expect(invocations.map((i) => i.records.length)).toEqual([2, 2, 2]);
  expect(deliveries()).toEqual(
    new Map([
      ["x", ["1", "2", "3"]],
      ["y", ["1", "2", "3"]],
    ]),
  );
  expect(reports.map((r) => [r.received, r.failed])).toEqual([
    [2, 2],
    [2, 2],
    [2, 0],
  ]);
  expect(String(reports[0]!.error)).toMatch(/itemIdentifier nope is not a message of this batch/);
  expect(String(reports[1]!.error)).toMatch(/has no itemIdentifier/);
  expect(logs).toHaveLength(2);
  expect(await queueCounts(queues.url)).toEqual({ visible: 0, notVisible: 0 });
  expect(await drain(queues.dlqUrl)).toEqual([]);
});

test("a throwing function leaves the whole batch for a retry after the queue's visibility timeout", async () => {
  const queues = await createQueues(2, 3);
  await send(queues.url, range("t", 4));
  const boom = new Error("boom");
  const { source, invocations, reports, logs, deliveries } = startSource(
    queues,
    async (_event, call) => {
      if (call === 1) throw boom;
      return { batchItemFailures: [] };
    },
    { maximumBatchingWindowSeconds: 1 },
  );
  await within(source.idle(), 20_000, "idle");

  expect(invocations.map((i) => i.records.length)).toEqual([4, 4]);
  for (const body of range("t", 4)) expect(deliveries().get(body)).toEqual(["1", "2"]);
  // No retryVisibilitySeconds: the AWS behaviour, the messages stay hidden for the queue's 2 s.
  expect(invocations[1]!.at - invocations[0]!.at).toBeGreaterThanOrEqual(1900);
  expect(reports.map((r) => [r.received, r.failed, r.error])).toEqual([
    [4, 4, boom],
    [4, 0, undefined],
  ]);
  expect(await queueCounts(queues.url)).toEqual({ visible: 0, notVisible: 0 });
  expect(await drain(queues.dlqUrl)).toEqual([]);
  expect(logs).toEqual([]);
});

test("never runs more than maximumConcurrency invocations at once", async () => {
  const queues = await createQueues(30, 2);
  const bodies = range("c", 40);
  await send(queues.url, bodies);
  let running = 0;
  let peak = 0;
  const { source, invocations, deliveries } = startSource(
    queues,
    async () => {
      running++;
      peak = Math.max(peak, running);
      await sleep(250);
      running--;
      return undefined;
    },
    { batchSize: 2, maximumConcurrency: 3 },
  );
  await within(source.idle(), 20_000, "idle");
  expect(peak).toBe(3);
  expect(invocations.every((i) => i.records.length <= 2)).toBe(true);
  expect([...deliveries().keys()].sort()).toEqual([...bodies].sort());
  expect([...deliveries().values()].every((counts) => counts.length === 1)).toBe(true);
});

test("stop() waits for the batch in flight, then polls no more", async () => {
  const queues = await createQueues(30, 2);
  await send(queues.url, range("s", 3));
  const entered = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  const { source, invocations, reports } = startSource(queues, async () => {
    entered.resolve();
    await gate.promise;
    return undefined;
  });
  await within(entered.promise, 10_000, "the first invocation");
  const idleOutcome = source.idle().then(
    () => "idle",
    (err: Error) => err.message,
  );
  let stopped = false;
  const stopping = source.stop().then(() => {
    stopped = true;
  });
  await sleep(1500);
  expect(stopped).toBe(false);
  gate.resolve();
  await within(stopping, 5_000, "stop");
  // Settled before stop() resolved: the batch is deleted and reported.
  expect(reports).toEqual([{ received: 3, failed: 0, undeleted: 0 }]);
  expect(await queueCounts(queues.url)).toEqual({ visible: 0, notVisible: 0 });
  expect(await idleOutcome).toMatch(/stopped before idle/);

  await expect(source.idle()).rejects.toThrow(/not running/);
  await send(queues.url, ["late"]);
  await sleep(1500);
  expect(invocations).toHaveLength(1);
  expect(await queueCounts(queues.url)).toEqual({ visible: 1, notVisible: 0 });
});

test("stop() during a batching window hands the gathered messages straight back to the queue", async () => {
  const queues = await createQueues(30, 2);
  const { source, invocations } = startSource(queues, async () => undefined, {
    batchSize: 100,
    maximumBatchingWindowSeconds: 60,
  });
  await send(queues.url, ["held"]);
  await sleep(1500);
  expect(await queueCounts(queues.url)).toEqual({ visible: 0, notVisible: 1 });
  const began = Date.now();
  await source.stop();
  expect(Date.now() - began).toBeLessThan(3000);
  expect(invocations).toEqual([]);
  // Visible again at once, not after the queue's 30 s visibility timeout.
  expect(await queueCounts(queues.url)).toEqual({ visible: 1, notVisible: 0 });
  const [message] = await drain(queues.url);
  expect(message?.Body).toBe("held");
});

test("rejects settings Lambda rejects", () => {
  const valid: SqsEventSourceOptions = {
    sqs,
    queueUrl: "http://127.0.0.1:5000/123456789012/q",
    queueArn: `arn:aws:sqs:${region}:123456789012:q`,
    region,
    batchSize: 10,
    maximumBatchingWindowSeconds: 0,
    maximumConcurrency: 2,
    reportBatchItemFailures: true,
    invoke: async () => undefined,
  };
  expect(() => new SqsEventSource(valid)).not.toThrow();
  expect(() => new SqsEventSource({ ...valid, batchSize: 10_000, maximumBatchingWindowSeconds: 300 })).not.toThrow();
  const fifo = { queueUrl: "http://127.0.0.1:5000/123456789012/q.fifo", queueArn: `${valid.queueArn}.fifo` };
  expect(() => new SqsEventSource({ ...valid, ...fifo })).not.toThrow();
  const invalid: Partial<SqsEventSourceOptions>[] = [
    { batchSize: 0 },
    { batchSize: 10_001, maximumBatchingWindowSeconds: 1 },
    { batchSize: 11 },
    { batchSize: 2.5 },
    { maximumBatchingWindowSeconds: 301 },
    { maximumConcurrency: 1 },
    { maximumConcurrency: 1001 },
    { retryVisibilitySeconds: -1 },
    { region: "eu-west-1" },
    { queueUrl: "http://127.0.0.1:5000/123456789012/other" },
    { queueArn: "arn:aws:sns:us-east-1:123456789012:q" },
    { ...fifo, batchSize: 11, maximumBatchingWindowSeconds: 1 },
    { ...fifo, maximumBatchingWindowSeconds: 1 },
  ];
  for (const override of invalid) {
    expect(() => new SqsEventSource({ ...valid, ...override })).toThrow(/invalid SQS event source options/);
  }
});

test("reads partial batch responses as Lambda documents", () => {
  const ids = new Set(["a", "b"]);
  const failed = (response: unknown) => {
    const verdict = readBatchResponse(response, ids);
    return verdict.invalid === undefined ? [...verdict.failed].sort() : "invalid";
  };
  for (const success of [undefined, null, {}, { batchItemFailures: null }, { batchItemFailures: [] }]) {
    expect(failed(success)).toEqual([]);
  }
  expect(failed({ batchItemFailures: [{ itemIdentifier: "b" }] })).toEqual(["b"]);
  expect(failed({ batchItemFailures: [{ itemIdentifier: "b" }, { itemIdentifier: "a" }] })).toEqual(["a", "b"]);
  for (const bad of [
    { batchItemFailures: [{ itemIdentifier: "c" }] },
    { batchItemFailures: [{ itemIdentifier: "" }] },
    { batchItemFailures: [{ itemIdentifier: null }] },
    { batchItemFailures: [{ messageId: "a" }] },
    { batchItemFailures: [null] },
    { batchItemFailures: "a" },
    { batchItemFailures: [{ itemIdentifier: 1n }] },
    "a",
    ["a"],
  ]) {
    expect(failed(bad)).toBe("invalid");
  }
});
