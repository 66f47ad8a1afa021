// The template's SQS queues in moto, with their attributes and redrive policies.
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  SetQueueAttributesCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { z } from "zod";
import { isMissing, type ProvisionContext, type ProvisionedResources, physicalName } from "../provision";

const QueueProperties = z.object({
  QueueName: z.string().optional(),
  VisibilityTimeout: z.coerce.string().optional(),
  MessageRetentionPeriod: z.coerce.string().optional(),
  DelaySeconds: z.coerce.string().optional(),
  ReceiveMessageWaitTimeSeconds: z.coerce.string().optional(),
  MaximumMessageSize: z.coerce.string().optional(),
});

const RedrivePolicy = z.object({
  deadLetterTargetArn: z.string(),
  maxReceiveCount: z.coerce.number().int().positive(),
});

/** Queue URLs by logical id. */
export async function createQueues(context: ProvisionContext): Promise<Record<string, string>> {
  const sqs = new SQSClient({ endpoint: context.motoEndpoint, region: context.region });
  const queues: Record<string, string> = {};
  const redrives: [string, unknown][] = [];
  for (const [logicalId, resource] of context.resolver.resourcesOfType("AWS::SQS::Queue")) {
    const { QueueName, ...attributes } = context.resolver.properties(QueueProperties, resource.Properties);
    const name = physicalName(context, logicalId, QueueName);
    const url = await ensureQueue(sqs, name, attributes);
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }),
    );
    const arn = Attributes?.QueueArn;
    if (!arn) throw new Error(`moto returned no ARN for queue ${name}`);
    queues[logicalId] = url;
    context.physical[logicalId] = { ref: url, attributes: { Arn: arn, QueueName: name, QueueUrl: url } };
    if (resource.Properties.RedrivePolicy !== undefined) redrives.push([logicalId, resource.Properties.RedrivePolicy]);
  }
  // Redrive targets are other queues' ARNs, known once every queue exists.
  for (const [logicalId, policy] of redrives) {
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: queues[logicalId],
        Attributes: { RedrivePolicy: JSON.stringify(context.resolver.properties(RedrivePolicy, policy)) },
      }),
    );
  }
  return queues;
}

async function ensureQueue(sqs: SQSClient, name: string, attributes: Record<string, string | undefined>) {
  const defined = Object.fromEntries(
    Object.entries(attributes).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  try {
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    if (QueueUrl) {
      if (Object.keys(defined).length) await sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: defined }));
      return QueueUrl;
    }
  } catch (err) {
    if (!isMissing(err, QueueDoesNotExist) && !(err instanceof Error && err.name.includes("NonExistentQueue")))
      throw err;
  }
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: defined }));
  if (!QueueUrl) throw new Error(`moto returned no URL for queue ${name}`);
  return QueueUrl;
}

/** A local queue's URL by its ARN. */
export function queueUrlByArn(resources: ProvisionedResources, arn: string): string {
  const entry = Object.values(resources.physical).find((p) => p.attributes?.Arn === arn && p.attributes.QueueUrl);
  if (!entry?.attributes?.QueueUrl) throw new Error(`no local queue has the ARN ${arn}`);
  return entry.attributes.QueueUrl;
}
