// The whole pipeline on one machine: real redis-server, DynamoDB Local and moto; the resources of template.yaml;
// the functions from their bundles; the ASL on aws-local-stepfunctions; the bus and its rules; the alert queue's
// event source; and one gateway endpoint in front. Everything is read from template.yaml and the ASL.
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { z } from "zod";
import { compileEventPattern } from "./event-pattern";
import { EventBridgeError, type EventEnvelope, LocalEventBus, type LocalRule } from "./eventbus";
import { FunctionHost, type LocalFunction, localFunctions } from "./functions";
import { Gateway } from "./gateway";
import {
  type LocalRuntimeOptions,
  type ProvisionedResources,
  provisionFromTemplate,
  stackResolver,
  workflowDefinition,
} from "./provision";
import { type LocalServer, startDynamoDbLocal, startMoto, startRedis } from "./servers";
import { SqsEventSource } from "./sqs-event-source";
import { MessageMoveTasks } from "./sqs-move-task";
import { type Execution, LocalStateMachine, StepFunctionsError } from "./workflow";

export interface LocalStackOptions {
  readonly stage?: string;
  readonly region?: string;
  /** Use running servers instead of starting them (the test harness shares its own). */
  readonly servers?: { readonly redisUrl: string; readonly dynamoEndpoint: string; readonly motoEndpoint: string };
  /** Keep Redis in an append-only file here (survives a kill and restart); a fresh temporary one by default. */
  readonly redisDataDir?: string;
  /** Keep DynamoDB Local's database in this directory (survives a restart); in memory by default. */
  readonly dynamoDataDir?: string;
  /** Each function's log file goes here; none by default. */
  readonly logDir?: string;
  readonly gatewayPort?: number;
  /** Time compression for tests and demos; AWS's own timings when absent. */
  readonly timing?: {
    /** Retry waits of every Task state, instead of IntervalSeconds and BackoffRate. */
    readonly taskRetryMs?: number;
    /** The first wait of EventBridge's target retries. */
    readonly eventRetryBaseMs?: number;
    /** When failed SQS messages come back, instead of the queue's VisibilityTimeout. */
    readonly sqsRetryVisibilitySeconds?: number;
    /** Function timeouts by logical id, instead of the template's Timeout. */
    readonly functionTimeoutSeconds?: Readonly<Record<string, number>>;
  };
  /** Most containers per function without ReservedConcurrentExecutions (TRADEFLOW_LOCAL_CONCURRENCY, else 16). */
  readonly concurrency?: number;
  /** Finished executions kept for the Step Functions API. */
  readonly retainExecutions?: number;
  readonly maxRunningExecutions?: number;
}

export interface LocalStack {
  /** The gateway: Step Functions, PutEvents, and DynamoDB/moto behind it. */
  readonly endpoint: string;
  readonly redisUrl: string;
  readonly dynamoEndpoint: string;
  readonly motoEndpoint: string;
  readonly region: string;
  readonly resources: ProvisionedResources;
  readonly functions: FunctionHost;
  readonly machine: LocalStateMachine;
  readonly bus: LocalEventBus;
  readonly eventSources: readonly SqsEventSource[];
  /** The local subscriber queue of each SNS topic, by topic logical id: where published alerts can be read. */
  readonly topicInboxes: Readonly<Record<string, string>>;
  /** The redis-server this stack started (to kill and restart in fault tests); absent with given servers. */
  readonly redis?: LocalServer;
  /** The DynamoDB Local this stack started (to freeze in fault tests); absent with given servers. */
  readonly dynamo?: LocalServer;
  /** The moto server this stack started (to kill and restart in fault tests); absent with given servers. */
  readonly moto?: LocalServer;
  /** SQS's StartMessageMoveTask and friends, served at the gateway (moto lacks them). */
  readonly moveTasks: MessageMoveTasks;
  /** Resolves when nothing is in flight: no delivery pending, no execution running, the alert queue drained. */
  idle(): Promise<void>;
  /** Creates again what moto lost of the template's resources (after a restart of moto on the same port). */
  reprovision(): Promise<void>;
  /**
   * Takes no new work from then on (the gateway refuses StartExecution, and PutEvents of events a rule would
   * route), and waits up to `timeoutMs` for the executions in flight (and the bus's pending deliveries) to finish.
   * Resolves with the executions still running at that point, which a stop then abandons. Events no rule matches (the recorder's domain events) are
   * still taken, so that executions in flight can finish.
   */
  drain(timeoutMs: number): Promise<Execution[]>;
  stop(): Promise<void>;
}

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

const SqsEvent = z.object({
  Queue: z.string(),
  BatchSize: z.coerce.number().int().positive().default(10),
  MaximumBatchingWindowInSeconds: z.coerce.number().int().min(0).default(0),
  FunctionResponseTypes: z.array(z.string()).default([]),
  ScalingConfig: z.object({ MaximumConcurrency: z.coerce.number().int() }).optional(),
  Enabled: z.boolean().default(true),
});

const StateMachineProperties = z.object({
  Name: z.string().optional(),
  Type: z.enum(["EXPRESS", "STANDARD"]).default("STANDARD"),
});

/**
 * `backend` as the gateway sees it: each named method first calls `check` with its arguments, which throws to
 * refuse the call. Through the gateway only, so the stack's own calls are never refused.
 */
function refusedWhileDraining<T extends object, A extends unknown[]>(
  backend: T,
  methods: readonly (keyof T & string)[],
  check: (...args: A) => void,
): T {
  return new Proxy(backend, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || !methods.includes(property as keyof T & string)) return value;
      return function (this: unknown, ...args: A) {
        check(...args);
        return value.apply(this, args);
      };
    },
  });
}

/** Physical name or URL of a queue by its ARN. */
function queueUrlByArn(resources: ProvisionedResources, arn: string): string {
  const entry = Object.values(resources.physical).find((p) => p.attributes?.Arn === arn && p.attributes.QueueUrl);
  if (!entry?.attributes?.QueueUrl) throw new Error(`no local queue has the ARN ${arn}`);
  return entry.attributes.QueueUrl;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const region = options.region ?? "us-east-1";
  const stage = options.stage ?? "dev";
  const started: LocalServer[] = [];
  const stops: (() => Promise<void> | void)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop();
    await Promise.all(started.map((s) => s.stop()));
  };
  try {
    let redis: LocalServer | undefined;
    let dynamo: LocalServer | undefined;
    let moto: LocalServer | undefined;
    let servers = options.servers;
    if (!servers) {
      const dataDir = options.redisDataDir ?? mkdtempSync(join(tmpdir(), "tradeflow-redis-"));
      mkdirSync(dataDir, { recursive: true });
      if (options.dynamoDataDir) mkdirSync(options.dynamoDataDir, { recursive: true });
      const [r, d, m] = await Promise.all([
        startRedis(undefined, { dataDir }),
        startDynamoDbLocal(undefined, options.dynamoDataDir ? { dataDir: options.dynamoDataDir } : {}),
        startMoto(),
      ]);
      started.push(r, d, m);
      redis = r;
      dynamo = d;
      moto = m;
      servers = { redisUrl: r.endpoint, dynamoEndpoint: d.endpoint, motoEndpoint: m.endpoint };
    }
    // Credentials only have to be well-formed: moto keys its account off them, DynamoDB Local its database.
    process.env.AWS_ACCESS_KEY_ID ??= "testing";
    process.env.AWS_SECRET_ACCESS_KEY ??= "testing";
    const provisioning = { dynamoEndpoint: servers.dynamoEndpoint, motoEndpoint: servers.motoEndpoint, region, stage };
    const resources = await provisionFromTemplate(provisioning);

    const gateway = new Gateway();
    const port = await gateway.listen(options.gatewayPort);
    stops.push(() => gateway.close());
    const endpoint = `http://127.0.0.1:${port}`;

    const sqs = new SQSClient({ endpoint: servers.motoEndpoint, region });
    const functions = functionHost(
      resources,
      { ...servers, gateway: endpoint },
      {
        logDir: options.logDir,
        concurrency: options.concurrency,
        timeoutSeconds: options.timing?.functionTimeoutSeconds,
      },
    );
    stops.push(() => functions.stop());

    const machine = localStateMachine(resources, functions, sqs, options);
    const bus = new LocalEventBus({
      name: resources.bus,
      arn: resources.physical[busLogicalId(resources)]?.attributes?.Arn ?? "",
      region,
      accountId: resources.accountId,
      rules: rulesOf(resources, machine),
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
      ...(options.timing?.eventRetryBaseMs !== undefined && { retryBaseDelayMs: options.timing.eventRetryBaseMs }),
    });
    stops.push(() => bus.stop());
    const moveTasks = new MessageMoveTasks(sqs);
    stops.push(() => moveTasks.idle());
    let draining = false;
    const stopping = "the local stack is stopping: it takes no new work while executions in flight finish";
    const routes = bus.ruleList.map((rule) => compileEventPattern(rule.eventPattern));
    gateway.serve({
      // The gateway's own view of the machine and the bus: the rules' deliveries still start executions.
      machines: [
        refusedWhileDraining(machine, ["start", "startSync"], () => {
          if (draining) throw new StepFunctionsError("ServiceUnavailableException", stopping);
        }),
      ],
      bus: refusedWhileDraining(bus, ["route"], (event: EventEnvelope) => {
        if (draining && routes.some((matches) => matches(event)))
          throw new EventBridgeError("ServiceUnavailableException", stopping);
      }),
      dynamoEndpoint: servers.dynamoEndpoint,
      motoEndpoint: servers.motoEndpoint,
      moveTasks,
    });

    const eventSources = functions.functions.flatMap((fn) => sqsEventSources(fn, resources, sqs, functions, options));
    for (const source of eventSources) {
      source.start();
      stops.push(() => source.stop());
    }
    const motoEndpoint = servers.motoEndpoint;
    const topicInboxes = await subscribeInboxes(resources, motoEndpoint, sqs);

    return {
      endpoint,
      redisUrl: servers.redisUrl,
      dynamoEndpoint: servers.dynamoEndpoint,
      motoEndpoint: servers.motoEndpoint,
      region,
      resources,
      functions,
      machine,
      bus,
      eventSources,
      topicInboxes,
      ...(redis && { redis }),
      ...(dynamo && { dynamo }),
      ...(moto && { moto }),
      moveTasks,
      async idle() {
        // Executions feed the alert queue, alerts start nothing: settle in that order until a pass finds it all quiet.
        do {
          await bus.idle();
          await machine.idle();
          await Promise.all(eventSources.map((s) => s.idle()));
        } while (bus.busy || machine.runningCount > 0);
      },
      async reprovision() {
        await provisionFromTemplate(provisioning);
        await subscribeInboxes(resources, motoEndpoint, sqs);
      },
      async drain(timeoutMs) {
        draining = true;
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        });
        // Executions, not the alert queue: a message the alerter keeps failing would hold the stop for nothing.
        // Batches the event sources have taken finish when they stop.
        const settled = (async () => {
          do {
            await bus.idle();
            await machine.idle();
          } while (bus.busy || machine.runningCount > 0);
        })();
        await Promise.race([settled, deadline]);
        clearTimeout(timer);
        return machine.list("RUNNING");
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * The template's functions on the local servers: each gets its template environment plus credentials, region and
 * endpoints (EventBridge and Step Functions at the gateway when there is one, moto otherwise).
 */
export function functionHost(
  resources: ProvisionedResources,
  endpoints: LocalEndpoints,
  options: Omit<LocalRuntimeOptions, "redisUrl"> & { logDir?: string } = {},
): FunctionHost {
  const { logDir, ...runtime } = options;
  return new FunctionHost(localFunctions(resources, { ...runtime, redisUrl: endpoints.redisUrl }), {
    baseEnvironment: functionBaseEnvironment(resources, endpoints),
    ...(logDir && { logDir }),
  });
}

export interface LocalEndpoints {
  readonly redisUrl: string;
  readonly dynamoEndpoint: string;
  readonly motoEndpoint: string;
  readonly gateway?: string;
}

/** What every function's environment starts from: credentials, region and the local endpoints. */
export function functionBaseEnvironment(
  resources: ProvisionedResources,
  endpoints: LocalEndpoints,
): Record<string, string> {
  const { region } = resources;
  const gateway = endpoints.gateway ?? endpoints.motoEndpoint;
  return {
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? "testing",
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? "testing",
    AWS_ENDPOINT_URL: endpoints.motoEndpoint,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamoEndpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: gateway,
    AWS_ENDPOINT_URL_SFN: gateway,
    // X-Ray has no local daemon: the execution traces stand in for it.
    POWERTOOLS_TRACE_ENABLED: "false",
    // The X-Ray SDK the tracer imports would otherwise track every async resource, for nothing.
    AWS_XRAY_MANUAL_MODE: "true",
    TZ: "UTC",
  };
}

function busLogicalId(resources: ProvisionedResources): string {
  const id = Object.entries(resources.physical).find(([, p]) => p.ref === resources.bus && p.attributes?.Name)?.[0];
  if (!id) throw new Error("the local stack has no bus");
  return id;
}

function localStateMachine(
  resources: ProvisionedResources,
  functions: FunctionHost,
  sqs: SQSClient,
  options: LocalStackOptions,
): LocalStateMachine {
  const workflow = workflowDefinition(resources);
  const resolver = stackResolver(resources);
  const resource = resolver.template.Resources[workflow.logicalId];
  const { Name, Type } = resource?.Properties ?? {};
  const properties = StateMachineProperties.parse(resolver.resolve({ Name, Type }));
  const name = properties.Name ?? `${resources.stackName}-${workflow.logicalId}`;
  return new LocalStateMachine({
    name,
    arn: `arn:aws:states:${resources.region}:${resources.accountId}:stateMachine:${name}`,
    type: properties.Type,
    definition: workflow.definition,
    region: resources.region,
    target: {
      isFunction: (arn) => arn in workflow.functionsByArn,
      invokeFunction: (arn, input) => functions.invoke(workflow.functionsByArn[arn] ?? arn, input),
      sqs,
    },
    ...(options.timing?.taskRetryMs !== undefined && { retryIntervalMs: options.timing.taskRetryMs }),
    ...(options.retainExecutions !== undefined && { retainExecutions: options.retainExecutions }),
    ...(options.maxRunningExecutions !== undefined && { maxRunning: options.maxRunningExecutions }),
  });
}

/** The state machine's EventBridgeRule events, as the rules SAM would create, each targeting the machine. */
function rulesOf(resources: ProvisionedResources, machine: LocalStateMachine): LocalRule[] {
  const resolver = stackResolver(resources);
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

function sqsEventSources(
  fn: LocalFunction,
  resources: ProvisionedResources,
  sqs: SQSClient,
  functions: FunctionHost,
  options: LocalStackOptions,
): SqsEventSource[] {
  return Object.values(fn.events)
    .filter((event) => event.Type === "SQS")
    .map((event) => SqsEvent.parse(event.Properties))
    .filter((event) => event.Enabled)
    .map(
      (event) =>
        new SqsEventSource({
          sqs,
          queueUrl: queueUrlByArn(resources, event.Queue),
          queueArn: event.Queue,
          region: resources.region,
          batchSize: event.BatchSize,
          maximumBatchingWindowSeconds: event.MaximumBatchingWindowInSeconds,
          maximumConcurrency: event.ScalingConfig?.MaximumConcurrency ?? 1000,
          reportBatchItemFailures: event.FunctionResponseTypes.includes("ReportBatchItemFailures"),
          invoke: (batch) => functions.invoke(fn.logicalId, batch),
          ...(options.timing?.sqsRetryVisibilitySeconds !== undefined && {
            retryVisibilitySeconds: options.timing.sqsRetryVisibilitySeconds,
          }),
        }),
    );
}

/** A local queue subscribed to each topic, standing in for the e-mail or endpoint a deployment would subscribe. */
async function subscribeInboxes(
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
