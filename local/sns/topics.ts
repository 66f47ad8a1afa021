// The template's SNS topics in moto, and the local queue subscribed to each (where published messages are read).
import { CreateTopicCommand, SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { z } from "zod";
import { type ProvisionContext, type ProvisionedResources, physicalName } from "../provision";

const TopicProperties = z.object({ TopicName: z.string().optional() });

/** Topic ARNs by logical id. CreateTopic is idempotent: an existing topic's ARN comes back. */
export async function createTopics(context: ProvisionContext): Promise<Record<string, string>> {
  const sns = new SNSClient({ endpoint: context.motoEndpoint, region: context.region });
  const topics: Record<string, string> = {};
  for (const [logicalId, resource] of context.resolver.resourcesOfType("AWS::SNS::Topic")) {
    const { TopicName } = context.resolver.properties(TopicProperties, resource.Properties);
    const name = physicalName(context, logicalId, TopicName);
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: name }));
    if (!TopicArn) throw new Error(`moto returned no ARN for topic ${name}`);
    topics[logicalId] = TopicArn;
    context.physical[logicalId] = { ref: TopicArn, attributes: { TopicArn, TopicName: name } };
  }
  return topics;
}

/** A local queue subscribed to each topic, standing in for the e-mail or endpoint a deployment would subscribe. */
export async function subscribeInboxes(
  resources: ProvisionedResources,
  motoEndpoint: string,
  sqs: SQSClient,
): Promise<Record<string, string>> {
  const sns = new SNSClient({ endpoint: motoEndpoint, region: resources.region });
  const inboxes: Record<string, string> = {};
  for (const [logicalId, topicArn] of Object.entries(resources.topics)) {
    const name = `${resources.physical[logicalId]?.attributes?.TopicName ?? logicalId}-local-inbox`;
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
    if (!QueueUrl) throw new Error(`moto created no queue ${name}`);
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }));
    await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: "sqs", Endpoint: Attributes?.QueueArn }));
    inboxes[logicalId] = QueueUrl;
  }
  return inboxes;
}
