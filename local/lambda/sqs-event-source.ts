// Lambda's SQS event source mapping, emulated for the local runtime against moto: long-poll the queue, gather
// batches (BatchSize, MaximumBatchingWindowInSeconds), invoke the function with Lambda's SQSEvent, delete what
// succeeded (all of it, or all but the reported batchItemFailures) and leave the rest to the queue's redrive policy.
import { setTimeout as sleep } from "node:timers/promises";
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { SQSEvent, SQSMessageAttributes, SQSRecord } from "aws-lambda";
import { z } from "zod";

export interface SqsBatchReport {
  /** Records in the invocation's event. */
  received: number;
  /** Records left in the queue for a retry: all of them when the function threw or answered invalidly. */
  failed: number;
  /** Successful records whose delete failed: SQS delivers them again. */
  undeleted: number;
  /** Why the whole batch failed: the function's error, or why its partial batch response was invalid. */
  error?: unknown;
}

export interface SqsEventSourceLogger {
  warn(message: string, detail: Record<string, unknown>): void;
  error(message: string, detail: Record<string, unknown>): void;
}

export interface SqsEventSourceOptions {
  /** A client pointed at the queue's endpoint (moto locally). */
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  region: string;
  /** BatchSize: 1 to 10,000 (10 for FIFO queues); above 10 needs a batching window of at least 1 s, as in Lambda. */
  batchSize: number;
  /** MaximumBatchingWindowInSeconds: 0 to 300 (0 for FIFO queues). */
  maximumBatchingWindowSeconds: number;
  /** ScalingConfig.MaximumConcurrency: 2 to 1,000 concurrent invocations. */
  maximumConcurrency: number;
  /** FunctionResponseTypes: [ReportBatchItemFailures]. */
  reportBatchItemFailures: boolean;
  /** The function. A throw (or rejection) fails the whole batch. */
  invoke: (event: SQSEvent) => Promise<unknown>;
  /**
   * Local time compression: failed messages become visible again after this many seconds instead of the queue's
   * VisibilityTimeout, so a redrive to the DLQ after maxReceiveCount takes seconds. Undefined = AWS behaviour.
   */
  retryVisibilitySeconds?: number;
  onBatch?: (report: SqsBatchReport) => void;
  /** Where SQS failures (receive, delete, visibility changes) and invalid partial responses go; console by default. */
  logger?: SqsEventSourceLogger;
}

const FIFO_SUFFIX = ".fifo";

const OptionsSchema = z
  .object({
    queueUrl: z.url(),
    queueArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$/, "an SQS queue ARN"),
    region: z.string().min(1),
    batchSize: z.int().min(1).max(10_000),
    maximumBatchingWindowSeconds: z.int().min(0).max(300),
    maximumConcurrency: z.int().min(2).max(1000),
    reportBatchItemFailures: z.boolean(),
    retryVisibilitySeconds: z.int().min(0).max(43_200).optional(),
  })
  .superRefine((o, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
    const arnParts = o.queueArn.split(":");
    const queueName = arnParts[5] ?? "";
    if (arnParts[3] !== o.region) issue("region", `the queue ARN is in ${arnParts[3]}, not ${o.region}`);
    if (new URL(o.queueUrl).pathname.split("/").pop() !== queueName) {
      issue("queueUrl", `does not name the queue of ${o.queueArn}`);
    }
    if (o.batchSize > 10 && o.maximumBatchingWindowSeconds < 1) {
      issue("batchSize", "a batch size above 10 needs a batching window of at least 1 second");
    }
    if (queueName.endsWith(FIFO_SUFFIX)) {
      if (o.batchSize > 10) issue("batchSize", "at most 10 for a FIFO queue");
      if (o.maximumBatchingWindowSeconds > 0) issue("maximumBatchingWindowSeconds", "FIFO queues take no window");
    }
  });

/** ReceiveMessage's limit per call. */
const RECEIVE_MAX = 10;
/** The SQS batch APIs' limit per call. */
const BATCH_API_MAX = 10;
/** Short long-polls, so that stop() returns within about a second without abandoning a receive mid-flight. */
const POLL_SECONDS = 1;
/** Lambda's synchronous invocation payload limit: a batch also closes when it reaches this. */
const MAX_EVENT_BYTES = 6 * 1024 * 1024;
const SHORT_POLL_PAUSE_MS = 100;
const RECEIVE_BACKOFF_MAX_MS = 5_000;

interface IdleWaiter {
  /** The last receive started before the waiter: only a later empty receive can prove idleness. */
  since: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** The messages a partial batch response fails, or why the response fails the whole batch. */
export type BatchResponseVerdict =
  | { failed: ReadonlySet<string>; invalid?: undefined }
  | { failed?: undefined; invalid: string };

/**
 * Lambda's reading of a partial batch response (ReportBatchItemFailures): null, `{}` or an empty or null
 * batchItemFailures mean all succeeded; anything it cannot use (not JSON, not an object, an item without a
 * non-empty string itemIdentifier, an id outside the batch) fails the whole batch.
 */
export function readBatchResponse(response: unknown, messageIds: ReadonlySet<string>): BatchResponseVerdict {
  let json: unknown;
  try {
    const text = JSON.stringify(response);
    json = text === undefined ? null : JSON.parse(text);
  } catch (err) {
    return { invalid: `the response is not JSON: ${(err as Error).message}` };
  }
  if (json === null) return { failed: new Set() };
  if (typeof json !== "object" || Array.isArray(json)) return { invalid: "the response is not a JSON object" };
  const list = (json as Record<string, unknown>).batchItemFailures;
  if (list === undefined || list === null) return { failed: new Set() };
  if (!Array.isArray(list)) return { invalid: "batchItemFailures is not a list" };
  const failed = new Set<string>();
  for (const item of list) {
    const id = typeof item === "object" && item !== null ? (item as Record<string, unknown>).itemIdentifier : undefined;
    if (typeof id !== "string" || id === "") {
      return { invalid: `batch item failure ${JSON.stringify(item)} has no itemIdentifier` };
    }
    if (!messageIds.has(id)) return { invalid: `itemIdentifier ${id} is not a message of this batch` };
    failed.add(id);
  }
  return { failed };
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64");
}

function lambdaMessageAttributes(attributes: Record<string, MessageAttributeValue> | undefined): SQSMessageAttributes {
  const out: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(attributes ?? {})) {
    out[name] = {
      ...(value.StringValue !== undefined && { stringValue: value.StringValue }),
      ...(value.BinaryValue !== undefined && { binaryValue: base64(value.BinaryValue) }),
      stringListValues: value.StringListValues ?? [],
      binaryListValues: (value.BinaryListValues ?? []).map(base64),
      dataType: value.DataType ?? "String",
    };
  }
  return out;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export class SqsEventSource {
  private readonly options: SqsEventSourceOptions;
  private readonly log: SqsEventSourceLogger;
  private readonly inFlight = new Set<Promise<void>>();
  private waiters: IdleWaiter[] = [];
  private loop: Promise<void> | undefined;
  private running = false;
  private stopping = new AbortController();
  private receiveSeq = 0;
  private receiveFailures = 0;

  constructor(options: SqsEventSourceOptions) {
    const parsed = OptionsSchema.safeParse(options);
    if (!parsed.success) throw new Error(`invalid SQS event source options:\n${z.prettifyError(parsed.error)}`);
    if (typeof options.sqs?.send !== "function") throw new Error("invalid SQS event source options: sqs is no client");
    if (typeof options.invoke !== "function")
      throw new Error("invalid SQS event source options: invoke is no function");
    this.options = options;
    this.log = options.logger ?? console;
  }

  start(): void {
    if (this.loop) throw new Error(`the event source for ${this.options.queueArn} is already running`);
    this.running = true;
    this.stopping = new AbortController();
    this.loop = this.run();
  }

  /**
   * Stops polling (within about a second) and resolves once the batches in flight are settled: deleted or left for
   * a retry. Messages gathered for a batch not yet invoked go straight back to the queue. It waits as long as an
   * invocation does, so invoke should enforce the function's Timeout.
   */
  async stop(): Promise<void> {
    if (!this.loop) return;
    this.running = false;
    this.stopping.abort();
    await this.loop;
    await Promise.all(this.inFlight);
    this.loop = undefined;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(new Error(`the event source for ${this.options.queueArn} stopped before idle`));
  }

  /**
   * Resolves once a receive started after this call came back empty while no batch was in flight and the queue held
   * no message at all (visible, in flight or delayed): everything sent before the call was processed, deleted or
   * moved to the dead-letter queue. A message that keeps failing with no redrive policy keeps it pending.
   */
  idle(): Promise<void> {
    if (!this.running) return Promise.reject(new Error(`the event source for ${this.options.queueArn} is not running`));
    return new Promise((resolve, reject) => this.waiters.push({ since: this.receiveSeq, resolve, reject }));
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (this.inFlight.size >= this.options.maximumConcurrency) {
        // Gathering only with a free slot keeps messages in the queue, not invisible in a batch waiting to run.
        await Promise.race(this.inFlight);
        continue;
      }
      const records = await this.gather();
      if (records.length === 0) continue;
      if (!this.running) {
        await this.changeVisibility(records, 0, "released on stop");
        break;
      }
      const batch: Promise<void> = this.process(records)
        .catch((error: unknown) => this.log.error("SQS event source: batch handling failed", { error }))
        .finally(() => this.inFlight.delete(batch));
      this.inFlight.add(batch);
    }
  }

  /**
   * One batch: the first receive brings what is there (window 0) or opens the window, which closes when it
   * expires, at batchSize or at 6 MB. The window opens on the first message, so an idle queue invokes nothing.
   */
  private async gather(): Promise<SQSRecord[]> {
    const { batchSize, maximumBatchingWindowSeconds } = this.options;
    const batch = new Map<string, SQSRecord>();
    let deadline: number | undefined;
    let bytes = 0;
    while (this.running && batch.size < batchSize && bytes < MAX_EVENT_BYTES) {
      let waitSeconds = POLL_SECONDS;
      if (deadline !== undefined) {
        const remainingMs = deadline - Date.now();
        if (remainingMs <= 0) break;
        waitSeconds = Math.min(POLL_SECONDS, Math.floor(remainingMs / 1000));
      }
      const seq = ++this.receiveSeq;
      const messages = await this.receive(Math.min(RECEIVE_MAX, batchSize - batch.size), waitSeconds);
      if (messages.length === 0) {
        if (batch.size === 0) await this.checkIdle(seq);
        else if (waitSeconds === 0 && deadline !== undefined) {
          await this.pause(Math.min(SHORT_POLL_PAUSE_MS, deadline - Date.now()));
        }
        continue;
      }
      for (const message of messages) {
        const record = this.toRecord(message);
        if (!record) continue;
        // A message redelivered within one window (its visibility ran out) keeps one entry, with the new handle.
        batch.set(record.messageId, record);
        bytes += Buffer.byteLength(JSON.stringify(record));
      }
      if (maximumBatchingWindowSeconds === 0) break;
      deadline ??= Date.now() + maximumBatchingWindowSeconds * 1000;
    }
    return [...batch.values()];
  }

  private async receive(maxMessages: number, waitSeconds: number): Promise<Message[]> {
    try {
      const { Messages } = await this.options.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.options.queueUrl,
          MaxNumberOfMessages: maxMessages,
          WaitTimeSeconds: waitSeconds,
          MessageSystemAttributeNames: ["All"],
          MessageAttributeNames: ["All"],
        }),
      );
      this.receiveFailures = 0;
      return Messages ?? [];
    } catch (error) {
      this.receiveFailures++;
      this.log.error("SQS event source: ReceiveMessage failed", { queueUrl: this.options.queueUrl, error });
      await this.pause(Math.min(RECEIVE_BACKOFF_MAX_MS, 250 * 2 ** this.receiveFailures));
      return [];
    }
  }

  private async checkIdle(seq: number): Promise<void> {
    const due = this.waiters.filter((w) => w.since < seq);
    if (due.length === 0 || this.inFlight.size > 0) return;
    let counts: Record<string, string>;
    try {
      const { Attributes } = await this.options.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: this.options.queueUrl,
          AttributeNames: [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
          ],
        }),
      );
      counts = Attributes ?? {};
    } catch (error) {
      this.log.warn("SQS event source: GetQueueAttributes failed", { queueUrl: this.options.queueUrl, error });
      return;
    }
    if (this.inFlight.size > 0 || Object.values(counts).some((n) => n !== "0")) return;
    this.waiters = this.waiters.filter((w) => !due.includes(w));
    for (const w of due) w.resolve();
  }

  private toRecord(message: Message): SQSRecord | undefined {
    const { MessageId, ReceiptHandle } = message;
    if (!MessageId || !ReceiptHandle) {
      this.log.error("SQS event source: received a message without id or receipt handle", { message });
      return undefined;
    }
    const {
      ApproximateReceiveCount = "",
      SentTimestamp = "",
      SenderId = "",
      ApproximateFirstReceiveTimestamp = "",
      ...otherAttributes
    } = message.Attributes ?? {};
    return {
      messageId: MessageId,
      receiptHandle: ReceiptHandle,
      body: message.Body ?? "",
      attributes: {
        ApproximateReceiveCount,
        SentTimestamp,
        SenderId,
        ApproximateFirstReceiveTimestamp,
        ...otherAttributes,
      },
      messageAttributes: lambdaMessageAttributes(message.MessageAttributes),
      ...(message.MD5OfMessageAttributes !== undefined && { md5OfMessageAttributes: message.MD5OfMessageAttributes }),
      md5OfBody: message.MD5OfBody ?? "",
      eventSource: "aws:sqs",
      eventSourceARN: this.options.queueArn,
      awsRegion: this.options.region,
    };
  }

  private async process(records: SQSRecord[]): Promise<void> {
    let failedIds: ReadonlySet<string>;
    let error: unknown;
    try {
      const response = await this.options.invoke({ Records: records });
      const verdict = this.options.reportBatchItemFailures
        ? readBatchResponse(response, new Set(records.map((r) => r.messageId)))
        : { failed: new Set<string>() };
      if (verdict.invalid === undefined) failedIds = verdict.failed;
      else {
        error = new Error(`invalid partial batch response: ${verdict.invalid}`);
        this.log.warn("SQS event source: the whole batch failed", { queueArn: this.options.queueArn, error });
        failedIds = new Set(records.map((r) => r.messageId));
      }
    } catch (err) {
      error = err;
      failedIds = new Set(records.map((r) => r.messageId));
    }
    const failed = records.filter((r) => failedIds.has(r.messageId));
    const undeleted = await this.deleteMessages(records.filter((r) => !failedIds.has(r.messageId)));
    const { retryVisibilitySeconds } = this.options;
    if (failed.length > 0 && retryVisibilitySeconds !== undefined) {
      await this.changeVisibility(failed, retryVisibilitySeconds, "retryVisibilitySeconds");
    }
    const report: SqsBatchReport = { received: records.length, failed: failed.length, undeleted };
    if (error !== undefined) report.error = error;
    try {
      this.options.onBatch?.(report);
    } catch (err) {
      this.log.error("SQS event source: onBatch threw", { error: err });
    }
  }

  /** Returns how many could not be deleted; those are logged and will be delivered again. */
  private async deleteMessages(records: SQSRecord[]): Promise<number> {
    const undeleted = await Promise.all(
      chunks(records, BATCH_API_MAX).map(async (chunk) => {
        try {
          const { Failed = [] } = await this.options.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: this.options.queueUrl,
              Entries: chunk.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
            }),
          );
          for (const f of Failed) {
            this.log.error("SQS event source: a processed message was not deleted and will be delivered again", {
              queueUrl: this.options.queueUrl,
              messageId: chunk[Number(f.Id)]?.messageId,
              code: f.Code,
              message: f.Message,
            });
          }
          return Failed.length;
        } catch (error) {
          this.log.error("SQS event source: processed messages were not deleted and will be delivered again", {
            queueUrl: this.options.queueUrl,
            messageIds: chunk.map((r) => r.messageId),
            error,
          });
          return chunk.length;
        }
      }),
    );
    return undeleted.reduce((a, b) => a + b, 0);
  }

  /** Best effort: a message whose change fails still returns after the queue's own visibility timeout. */
  private async changeVisibility(records: SQSRecord[], seconds: number, why: string): Promise<void> {
    await Promise.all(
      chunks(records, BATCH_API_MAX).map(async (chunk) => {
        let failedIds: (string | undefined)[];
        let error: unknown;
        try {
          const { Failed = [] } = await this.options.sqs.send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl: this.options.queueUrl,
              Entries: chunk.map((r, i) => ({
                Id: String(i),
                ReceiptHandle: r.receiptHandle,
                VisibilityTimeout: seconds,
              })),
            }),
          );
          failedIds = Failed.map((f) => chunk[Number(f.Id)]?.messageId);
          error = Failed.map((f) => `${f.Code}: ${f.Message}`).join("; ");
        } catch (err) {
          failedIds = chunk.map((r) => r.messageId);
          error = err;
        }
        if (failedIds.length > 0) {
          this.log.warn(`SQS event source: visibility change (${why}) failed; the queue's visibility timeout applies`, {
            queueUrl: this.options.queueUrl,
            messageIds: failedIds,
            error,
          });
        }
      }),
    );
  }

  private async pause(ms: number): Promise<void> {
    if (ms <= 0) return;
    try {
      await sleep(ms, undefined, { signal: this.stopping.signal });
    } catch {
      // Aborted by stop().
    }
  }
}
