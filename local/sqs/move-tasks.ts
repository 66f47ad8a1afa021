// SQS's dead-letter queue redrive (StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask), which moto
// lacks: the gateway serves these three operations here and passes the rest of SQS to moto. A task moves every
// message of a dead-letter queue, body and message attributes, to DestinationArn or, without one, back to the queue
// whose RedrivePolicy names the dead-letter queue. As on AWS the task runs after the call has returned; its
// progress is what ListMessageMoveTasks reports.
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html
import { randomUUID } from "node:crypto";
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { z } from "zod";

/** An SQS error as the JSON protocol returns it: `name` is the `__type`. */
export class SqsError extends Error {
  constructor(
    override readonly name: string,
    message: string,
  ) {
    super(message);
  }
}

type Status = "RUNNING" | "COMPLETED" | "CANCELLING" | "CANCELLED" | "FAILED";

interface MoveTask {
  readonly TaskHandle: string;
  Status: Status;
  readonly SourceArn: string;
  readonly DestinationArn?: string;
  readonly MaxNumberOfMessagesPerSecond?: number;
  ApproximateNumberOfMessagesMoved: number;
  readonly ApproximateNumberOfMessagesToMove: number;
  FailureReason?: string;
  readonly StartedTimestamp: number;
}

const Start = z.object({
  SourceArn: z.string(),
  DestinationArn: z.string().optional(),
  MaxNumberOfMessagesPerSecond: z.number().int().min(1).max(500).optional(),
});
const List = z.object({ SourceArn: z.string(), MaxResults: z.number().int().min(1).max(10).default(1) });
const Cancel = z.object({ TaskHandle: z.string() });
const RedrivePolicy = z.object({ deadLetterTargetArn: z.string() });

const OPERATIONS = ["StartMessageMoveTask", "ListMessageMoveTasks", "CancelMessageMoveTask"] as const;

export class MessageMoveTasks {
  /** Every task by handle, newest last. */
  private readonly tasks = new Map<string, MoveTask>();
  private readonly moving = new Set<Promise<void>>();

  constructor(private readonly sqs: SQSClient) {}

  /** Whether the gateway should send this X-Amz-Target here rather than to moto. */
  serves(target: string): boolean {
    return OPERATIONS.some((operation) => target === `AmazonSQS.${operation}`);
  }

  async serve(operation: string, body: unknown): Promise<unknown> {
    switch (operation) {
      case "StartMessageMoveTask":
        return { TaskHandle: await this.start(Start.parse(body)) };
      case "ListMessageMoveTasks": {
        const p = List.parse(body);
        await this.queueUrl(p.SourceArn);
        const results = [...this.tasks.values()].filter((t) => t.SourceArn === p.SourceArn).reverse();
        // AWS returns the handle of running tasks only.
        return {
          Results: results
            .slice(0, p.MaxResults)
            .map(({ TaskHandle, ...task }) => (task.Status === "RUNNING" ? { TaskHandle, ...task } : task)),
        };
      }
      case "CancelMessageMoveTask": {
        const task = this.tasks.get(Cancel.parse(body).TaskHandle);
        if (!task) throw new SqsError("ResourceNotFoundException", "The task handle does not exist.");
        if (task.Status !== "RUNNING")
          throw new SqsError("ResourceNotFoundException", `The task is ${task.Status}, not RUNNING.`);
        task.Status = "CANCELLING";
        return { ApproximateNumberOfMessagesMoved: task.ApproximateNumberOfMessagesMoved };
      }
      default:
        throw new SqsError("UnsupportedOperation", `the local stack does not serve ${operation}`);
    }
  }

  /** Resolves once every task has ended (for tests and a clean stop). */
  async idle(): Promise<void> {
    while (this.moving.size > 0) await Promise.all(this.moving);
  }

  private async start(p: z.infer<typeof Start>): Promise<string> {
    const sourceUrl = await this.queueUrl(p.SourceArn);
    if ([...this.tasks.values()].some((t) => t.SourceArn === p.SourceArn && t.Status === "RUNNING"))
      throw new SqsError("UnsupportedOperation", "Only one active message movement task is supported per queue.");
    const destinationUrl = await this.queueUrl(p.DestinationArn ?? (await this.redriveSource(p.SourceArn)));
    const { Attributes } = await this.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: sourceUrl, AttributeNames: ["ApproximateNumberOfMessages"] }),
    );
    // AWS's handles are opaque base64 of the task id and its source; so are these.
    const handle = Buffer.from(JSON.stringify({ taskId: randomUUID(), sourceArn: p.SourceArn })).toString("base64");
    const task: MoveTask = {
      TaskHandle: handle,
      Status: "RUNNING",
      SourceArn: p.SourceArn,
      ...(p.DestinationArn && { DestinationArn: p.DestinationArn }),
      ...(p.MaxNumberOfMessagesPerSecond && { MaxNumberOfMessagesPerSecond: p.MaxNumberOfMessagesPerSecond }),
      ApproximateNumberOfMessagesMoved: 0,
      ApproximateNumberOfMessagesToMove: Number(Attributes?.ApproximateNumberOfMessages ?? 0),
      StartedTimestamp: Date.now(),
    };
    this.tasks.set(handle, task);
    const moving = this.move(task, sourceUrl, destinationUrl).catch((err: unknown) => {
      task.Status = "FAILED";
      task.FailureReason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    });
    this.moving.add(moving);
    void moving.finally(() => this.moving.delete(moving));
    return handle;
  }

  /**
   * Receives what the source holds and sends it on, ten at a time, deleting each batch once it is sent: a message
   * is moved at least once, never lost. Ends when a receive finds the source empty, or on cancel.
   */
  private async move(task: MoveTask, sourceUrl: string, destinationUrl: string): Promise<void> {
    const perSecond = task.MaxNumberOfMessagesPerSecond;
    while (task.Status === "RUNNING") {
      const { Messages = [] } = await this.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: sourceUrl,
          MaxNumberOfMessages: perSecond ? Math.min(10, perSecond) : 10,
          MessageAttributeNames: ["All"],
          VisibilityTimeout: 30,
        }),
      );
      if (Messages.length === 0) {
        task.Status = "COMPLETED";
        return;
      }
      await this.forward(Messages, destinationUrl);
      await this.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: sourceUrl,
          Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
      task.ApproximateNumberOfMessagesMoved += Messages.length;
      if (perSecond) await new Promise((r) => setTimeout(r, (1000 * Messages.length) / perSecond));
    }
    // Cancelled: what was moved stays moved.
    task.Status = "CANCELLED";
  }

  private async forward(messages: readonly Message[], destinationUrl: string): Promise<void> {
    const { Failed = [] } = await this.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: destinationUrl,
        Entries: messages.map((m, i) => ({
          Id: String(i),
          MessageBody: m.Body ?? "",
          ...(m.MessageAttributes && { MessageAttributes: m.MessageAttributes }),
        })),
      }),
    );
    const [failed] = Failed;
    if (failed) throw new SqsError(failed.Code ?? "InternalError", failed.Message ?? "a message was not moved");
  }

  /** The queue whose RedrivePolicy names this dead-letter queue: where its messages came from. */
  private async redriveSource(deadLetterArn: string): Promise<string> {
    const { QueueUrls = [] } = await this.sqs.send(new ListQueuesCommand({}));
    const sources: string[] = [];
    for (const url of QueueUrls) {
      const { Attributes } = await this.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["RedrivePolicy", "QueueArn"] }),
      );
      const policy = RedrivePolicy.safeParse(JSON.parse(Attributes?.RedrivePolicy ?? "null"));
      if (policy.success && policy.data.deadLetterTargetArn === deadLetterArn && Attributes?.QueueArn)
        sources.push(Attributes.QueueArn);
    }
    const [source, ...more] = sources;
    if (!source || more.length > 0)
      throw new SqsError(
        "InvalidParameterValue",
        `${deadLetterArn} is the dead-letter queue of ${sources.length === 0 ? "no queue" : sources.join(" and ")}: name a DestinationArn`,
      );
    return source;
  }

  private async queueUrl(arn: string): Promise<string> {
    const [, , service, , account, name] = arn.split(":");
    if (service !== "sqs" || !account || !name) throw new SqsError("InvalidParameterValue", `${arn} is no queue ARN`);
    try {
      const { QueueUrl } = await this.sqs.send(
        new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: account }),
      );
      if (QueueUrl) return QueueUrl;
    } catch (err) {
      if (!(err instanceof Error && /NonExistentQueue|QueueDoesNotExist/.test(err.name))) throw err;
    }
    throw new SqsError("ResourceNotFoundException", `The specified queue does not exist: ${arn}`);
  }
}
