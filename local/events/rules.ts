// The template's EventBridge bus: created in moto (where the rest of EventBridge is served), and run locally with
// the rules SAM makes of the state machine's EventBridgeRule events, their dead letters sent to the local queues.
import {
  CreateEventBusCommand,
  DescribeEventBusCommand,
  EventBridgeClient,
  ResourceAlreadyExistsException,
} from "@aws-sdk/client-eventbridge";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { z } from "zod";
import { isMissing, type ProvisionContext, type ProvisionedResources, physicalName } from "../provision";
import { queueUrlByArn } from "../sqs/queues";
import type { TemplateResolver } from "../template";
import { LocalEventBus, type LocalRule } from "./bus";

const BusProperties = z.object({ Name: z.string().optional() });

const EventBridgeRuleEvent = z.object({
  Type: z.literal("EventBridgeRule"),
  Properties: z.object({
    EventBusName: z.string().optional(),
    RuleName: z.string().optional(),
    Pattern: z.unknown(),
    RetryPolicy: z
      .object({
        MaximumEventAgeInSeconds: z.coerce.number().int().default(86_400),
        MaximumRetryAttempts: z.coerce.number().int().default(185),
      })
      .default({ MaximumEventAgeInSeconds: 86_400, MaximumRetryAttempts: 185 }),
    DeadLetterConfig: z.object({ Arn: z.string() }).optional(),
  }),
});

/** The bus's name; the template must declare exactly one. */
export async function createBus(context: ProvisionContext): Promise<string> {
  const buses = context.resolver.resourcesOfType("AWS::Events::EventBus");
  const [busEntry] = buses;
  if (!busEntry || buses.length > 1) throw new Error("the template must declare exactly one event bus");
  const [logicalId, resource] = busEntry;
  const name = physicalName(context, logicalId, context.resolver.properties(BusProperties, resource.Properties).Name);
  const events = new EventBridgeClient({ endpoint: context.motoEndpoint, region: context.region });
  context.physical[logicalId] = { ref: name, attributes: { Name: name, Arn: await ensureBus(events, name) } };
  return name;
}

async function ensureBus(events: EventBridgeClient, name: string): Promise<string> {
  try {
    const { EventBusArn } = await events.send(new CreateEventBusCommand({ Name: name }));
    if (EventBusArn) return EventBusArn;
  } catch (err) {
    if (!isMissing(err, ResourceAlreadyExistsException)) throw err;
  }
  const { Arn } = await events.send(new DescribeEventBusCommand({ Name: name }));
  if (!Arn) throw new Error(`moto returned no ARN for bus ${name}`);
  return Arn;
}

/** What the rules deliver to: the state machine, whose StartExecution each matching event calls. */
export interface RuleTargetMachine {
  readonly arn: string;
  start(input: string): unknown;
}

/** The template's bus as the local stack runs it, with the state machine's rules. */
export function localEventBus(
  resolver: TemplateResolver,
  resources: ProvisionedResources,
  machine: RuleTargetMachine,
  sqs: SQSClient,
  retryBaseDelayMs: number | undefined,
): LocalEventBus {
  const bus = Object.values(resources.physical).find((p) => p.ref === resources.bus && p.attributes?.Name);
  if (!bus) throw new Error("the local stack has no bus");
  return new LocalEventBus({
    name: resources.bus,
    arn: bus.attributes?.Arn ?? "",
    region: resources.region,
    accountId: resources.accountId,
    rules: rulesOf(resolver, resources, machine),
    sendToDeadLetterQueue: async ({ queueArn, body, attributes }) => {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrlByArn(resources, queueArn),
          MessageBody: body,
          MessageAttributes: Object.fromEntries(
            Object.entries(attributes).map(([k, v]) => [k, { DataType: "String", StringValue: v }]),
          ),
        }),
      );
    },
    ...(retryBaseDelayMs !== undefined && { retryBaseDelayMs }),
  });
}

/** The state machine's EventBridgeRule events, as the rules SAM would create, each targeting the machine. */
function rulesOf(resolver: TemplateResolver, resources: ProvisionedResources, machine: RuleTargetMachine): LocalRule[] {
  const [[logicalId, resource] = []] = resolver.resourcesOfType("AWS::Serverless::StateMachine");
  const events = z.record(z.string(), z.unknown()).parse(resource?.Properties.Events ?? {});
  return Object.entries(events).flatMap(([eventId, event]) => {
    const parsed = EventBridgeRuleEvent.safeParse(resolver.resolve(event));
    if (!parsed.success) return [];
    const p = parsed.data.Properties;
    const ruleName = p.RuleName ?? `${resources.stackName}-${logicalId}${eventId}`;
    const busName = p.EventBusName ?? "default";
    return [
      {
        name: ruleName,
        arn: `arn:aws:events:${resources.region}:${resources.accountId}:rule/${busName}/${ruleName}`,
        eventPattern: p.Pattern,
        targets: [
          {
            id: `${logicalId}${eventId}StepFunctionsTarget`,
            arn: machine.arn,
            maximumRetryAttempts: p.RetryPolicy.MaximumRetryAttempts,
            maximumEventAgeSeconds: p.RetryPolicy.MaximumEventAgeInSeconds,
            ...(p.DeadLetterConfig && { deadLetterArn: p.DeadLetterConfig.Arn }),
            deliver: async (envelope) => {
              machine.start(JSON.stringify(envelope));
            },
          },
        ],
      },
    ];
  });
}
