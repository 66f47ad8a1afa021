// Creates the local stack from template.yaml: tables in DynamoDB Local; queues (with redrive), topics, the bus,
// the SSM parameters and the Redis AUTH secret in moto. Idempotent: what exists is kept (parameters are
// rewritten to the template's values). KMS settings are left out: nothing local encrypts.
import { randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  type TableDescription,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import {
  CreateEventBusCommand,
  DescribeEventBusCommand,
  EventBridgeClient,
  ResourceAlreadyExistsException,
} from "@aws-sdk/client-eventbridge";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  ResourceNotFoundException as SecretNotFoundException,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { CreateTopicCommand, SNSClient } from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  SetQueueAttributesCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import {
  type CfnTemplate,
  loadTemplate,
  type PhysicalResource,
  TemplateResolver,
  templateFile,
  UnresolvedReferenceError,
} from "./template";

export interface LocalStackOptions {
  readonly dynamoEndpoint: string;
  readonly motoEndpoint: string;
  readonly region: string;
  readonly stage: string;
  /** Template parameter overrides besides Stage. */
  readonly parameters?: Readonly<Record<string, string>>;
}

/** Physical names by template logical id. */
export interface ProvisionedResources {
  readonly tables: Record<string, string>;
  /** Queue URLs. */
  readonly queues: Record<string, string>;
  /** Topic ARNs. */
  readonly topics: Record<string, string>;
  readonly bus: string;
  /** SSM parameter names. */
  readonly parameters: Record<string, string>;
  /** The functions' CONFIG_PATH. */
  readonly configPath: string;
  /** Secret ARNs. */
  readonly secrets: Record<string, string>;
  readonly region: string;
  readonly accountId: string;
  readonly stackName: string;
  /** The template parameter values used, for resolving more of the template against this stack. */
  readonly templateParameters: Readonly<Record<string, string>>;
  /** Every created resource as the template resolver sees it (Ref value and attributes). */
  readonly physical: Readonly<Record<string, PhysicalResource>>;
}

const KeySchema = z.array(z.object({ AttributeName: z.string(), KeyType: z.enum(["HASH", "RANGE"]) }));
const TableProperties = z.object({
  TableName: z.string().optional(),
  AttributeDefinitions: z.array(z.object({ AttributeName: z.string(), AttributeType: z.enum(["S", "N", "B"]) })),
  KeySchema,
  GlobalSecondaryIndexes: z
    .array(
      z.object({
        IndexName: z.string(),
        KeySchema,
        Projection: z.object({
          ProjectionType: z.enum(["ALL", "KEYS_ONLY", "INCLUDE"]),
          NonKeyAttributes: z.array(z.string()).optional(),
        }),
      }),
    )
    .optional(),
  StreamSpecification: z
    .object({ StreamViewType: z.enum(["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"]) })
    .optional(),
  TimeToLiveSpecification: z.object({ AttributeName: z.string(), Enabled: z.boolean() }).optional(),
});

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

const SecretProperties = z.object({
  Name: z.string().optional(),
  SecretString: z.string().optional(),
  GenerateSecretString: z
    .object({
      SecretStringTemplate: z.string().optional(),
      GenerateStringKey: z.string().optional(),
      PasswordLength: z.number().int().positive().default(32),
      ExcludeCharacters: z.string().default(""),
      ExcludePunctuation: z.boolean().default(false),
    })
    .optional(),
});

const ParameterProperties = z.object({ Name: z.string(), Value: z.string(), Type: z.literal("String") });

const Named = z.object({ Name: z.string().optional(), TopicName: z.string().optional() });

/** The local stack's name for a function, and the ARN the workflow's Task states then carry. */
export function localFunctionPhysical(
  logicalId: string,
  stack: Pick<ProvisionedResources, "region" | "accountId" | "stackName">,
): PhysicalResource {
  const name = `${stack.stackName}-${logicalId}`;
  return { ref: name, attributes: { Arn: `arn:aws:lambda:${stack.region}:${stack.accountId}:function:${name}` } };
}

function isMissing(err: unknown, type: abstract new (...args: never[]) => Error): boolean {
  return err instanceof type || (err instanceof Error && err.name === type.name);
}

/** A secret like Secrets Manager's GenerateSecretString would make: printable ASCII minus the exclusions. */
function generatedSecret(spec: NonNullable<z.infer<typeof SecretProperties>["GenerateSecretString"]>): string {
  const alphabet = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i)).filter(
    (c) => !spec.ExcludeCharacters.includes(c) && !(spec.ExcludePunctuation && /[^A-Za-z0-9]/.test(c)),
  );
  const password = Array.from({ length: spec.PasswordLength }, () => alphabet[randomInt(alphabet.length)]).join("");
  if (!spec.GenerateStringKey) return password;
  const base: unknown = JSON.parse(spec.SecretStringTemplate ?? "{}");
  return JSON.stringify({ ...(base as object), [spec.GenerateStringKey]: password });
}

export async function provisionFromTemplate(options: LocalStackOptions): Promise<ProvisionedResources> {
  const template = loadTemplate();
  const templateParameters = { ...options.parameters, Stage: options.stage };
  const { region } = options;
  const moto = { endpoint: options.motoEndpoint, region };
  const dynamo = new DynamoDBClient({ endpoint: options.dynamoEndpoint, region });
  const sqs = new SQSClient(moto);
  const sns = new SNSClient(moto);
  const events = new EventBridgeClient(moto);
  const secretsManager = new SecretsManagerClient(moto);
  const ssm = new SSMClient(moto);

  const physical: Record<string, PhysicalResource> = {};
  let resolver = new TemplateResolver(template, { region, parameters: templateParameters, resources: physical });
  const nameOf = (logicalId: string, name: string | undefined) => name ?? `${resolver.stackName}-${logicalId}`;
  // Only the properties a schema names are resolved: the rest (KMS keys, policies) means nothing locally.
  const props = <S extends z.ZodObject>(schema: S, properties: unknown): z.output<S> => {
    const given = z.record(z.string(), z.unknown()).parse(properties);
    const wanted = Object.keys(schema.shape).filter((key) => given[key] !== undefined);
    return schema.parse(resolver.resolve(Object.fromEntries(wanted.map((key) => [key, given[key]]))));
  };

  // Topics first: their ARNs reveal moto's account id, which the rest of the template may need.
  const topics: Record<string, string> = {};
  for (const [logicalId, resource] of resolver.resourcesOfType("AWS::SNS::Topic")) {
    const name = nameOf(logicalId, props(Named, resource.Properties).TopicName);
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: name }));
    if (!TopicArn) throw new Error(`moto returned no ARN for topic ${name}`);
    topics[logicalId] = TopicArn;
    physical[logicalId] = { ref: TopicArn, attributes: { TopicArn, TopicName: name } };
  }
  const anyArn = Object.values(topics)[0];
  const accountId = anyArn?.split(":")[4];
  if (!accountId) throw new Error("the template needs at least one SNS topic to learn moto's account id");
  resolver = new TemplateResolver(template, {
    region,
    accountId,
    parameters: templateParameters,
    resources: physical,
  });

  const tables: Record<string, string> = {};
  for (const type of ["AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table"]) {
    for (const [logicalId, resource] of resolver.resourcesOfType(type)) {
      const p = props(TableProperties, resource.Properties);
      const name = nameOf(logicalId, p.TableName);
      const table = await ensureTable(dynamo, name, p);
      if (p.TimeToLiveSpecification?.Enabled) await ensureTtl(dynamo, name, p.TimeToLiveSpecification.AttributeName);
      tables[logicalId] = name;
      physical[logicalId] = {
        ref: name,
        attributes: {
          Arn: table.TableArn ?? name,
          ...(table.LatestStreamArn ? { StreamArn: table.LatestStreamArn } : {}),
        },
      };
    }
  }

  const queues: Record<string, string> = {};
  const redrives: [string, unknown][] = [];
  for (const [logicalId, resource] of resolver.resourcesOfType("AWS::SQS::Queue")) {
    const { QueueName, ...attributes } = props(QueueProperties, resource.Properties);
    const name = nameOf(logicalId, QueueName);
    const url = await ensureQueue(sqs, name, attributes);
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }),
    );
    const arn = Attributes?.QueueArn;
    if (!arn) throw new Error(`moto returned no ARN for queue ${name}`);
    queues[logicalId] = url;
    physical[logicalId] = { ref: url, attributes: { Arn: arn, QueueName: name, QueueUrl: url } };
    if (resource.Properties.RedrivePolicy !== undefined) redrives.push([logicalId, resource.Properties.RedrivePolicy]);
  }
  // Redrive targets are other queues' ARNs, known once every queue exists.
  for (const [logicalId, policy] of redrives) {
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: queues[logicalId],
        Attributes: { RedrivePolicy: JSON.stringify(props(RedrivePolicy, policy)) },
      }),
    );
  }

  const buses = resolver.resourcesOfType("AWS::Events::EventBus");
  const [busEntry] = buses;
  if (!busEntry || buses.length > 1) throw new Error("the template must declare exactly one event bus");
  const [busId, busResource] = busEntry;
  const bus = nameOf(busId, props(Named, busResource.Properties).Name);
  physical[busId] = { ref: bus, attributes: { Name: bus, Arn: await ensureBus(events, bus) } };

  const secrets: Record<string, string> = {};
  for (const [logicalId, resource] of resolver.resourcesOfType("AWS::SecretsManager::Secret")) {
    const p = props(SecretProperties, resource.Properties);
    const name = nameOf(logicalId, p.Name);
    const value = p.SecretString ?? (p.GenerateSecretString ? generatedSecret(p.GenerateSecretString) : "");
    const arn = await ensureSecret(secretsManager, name, value);
    secrets[logicalId] = arn;
    physical[logicalId] = { ref: arn, attributes: { Id: arn } };
  }

  const parameters: Record<string, string> = {};
  for (const [logicalId, resource] of resolver.resourcesOfType("AWS::SSM::Parameter")) {
    const p = props(ParameterProperties, resource.Properties);
    await ssm.send(new PutParameterCommand({ Name: p.Name, Value: p.Value, Type: p.Type, Overwrite: true }));
    parameters[logicalId] = p.Name;
    physical[logicalId] = { ref: p.Name, attributes: { Type: p.Type, Value: p.Value } };
  }

  const configPath = resolver.resolveString(globalVariables(template).CONFIG_PATH);
  return {
    tables,
    queues,
    topics,
    bus,
    parameters,
    configPath,
    secrets,
    region,
    accountId,
    stackName: resolver.stackName,
    templateParameters,
    physical,
  };
}

async function ensureTable(
  dynamo: DynamoDBClient,
  name: string,
  p: z.infer<typeof TableProperties>,
): Promise<TableDescription> {
  try {
    const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: name }));
    if (Table) return Table;
  } catch (err) {
    if (!isMissing(err, ResourceNotFoundException)) throw err;
  }
  const { TableDescription } = await dynamo.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: p.AttributeDefinitions,
      KeySchema: p.KeySchema,
      GlobalSecondaryIndexes: p.GlobalSecondaryIndexes,
      StreamSpecification: p.StreamSpecification && { StreamEnabled: true, ...p.StreamSpecification },
    }),
  );
  if (!TableDescription) throw new Error(`DynamoDB Local returned no description for ${name}`);
  return TableDescription;
}

async function ensureTtl(dynamo: DynamoDBClient, name: string, attribute: string): Promise<void> {
  const { TimeToLiveDescription } = await dynamo.send(new DescribeTimeToLiveCommand({ TableName: name }));
  if (TimeToLiveDescription?.TimeToLiveStatus === "ENABLED") return;
  await dynamo.send(
    new UpdateTimeToLiveCommand({
      TableName: name,
      TimeToLiveSpecification: { AttributeName: attribute, Enabled: true },
    }),
  );
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

async function ensureSecret(client: SecretsManagerClient, name: string, value: string): Promise<string> {
  try {
    const { ARN } = await client.send(new DescribeSecretCommand({ SecretId: name }));
    if (ARN) return ARN;
  } catch (err) {
    if (!isMissing(err, SecretNotFoundException)) throw err;
  }
  const { ARN } = await client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  if (!ARN) throw new Error(`moto returned no ARN for secret ${name}`);
  return ARN;
}

function globalVariables(template: CfnTemplate): Record<string, unknown> {
  return environmentOf(template.Globals.Function);
}

function environmentOf(properties: Record<string, unknown>): Record<string, unknown> {
  const variables = z
    .object({ Environment: z.object({ Variables: z.record(z.string(), z.unknown()) }).optional() })
    .parse(properties).Environment?.Variables;
  return variables ?? {};
}

/** A resolver over the provisioned stack: functions named as the local stack names them, the cache at local Redis. */
export function stackResolver(stack: ProvisionedResources, localRedisUrl?: string): TemplateResolver {
  const template = loadTemplate();
  const resources: Record<string, PhysicalResource> = {};
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type === "AWS::Serverless::Function") resources[id] = localFunctionPhysical(id, stack);
    if (resource.Type === "AWS::ElastiCache::ReplicationGroup" && localRedisUrl) {
      const { hostname, port } = new URL(localRedisUrl);
      const endpoints = ["PrimaryEndPoint", "ReaderEndPoint", "ConfigurationEndPoint"];
      resources[id] = {
        ref: id,
        attributes: Object.fromEntries(
          endpoints.flatMap((e) => [
            [`${e}.Address`, hostname],
            [`${e}.Port`, port || "6379"],
          ]),
        ),
      };
    }
  }
  return new TemplateResolver(template, {
    region: stack.region,
    accountId: stack.accountId,
    stackName: stack.stackName,
    parameters: stack.templateParameters,
    resources: { ...resources, ...stack.physical },
  });
}

export interface LocalRuntimeOptions {
  /** The local Redis every REDIS_URL points to instead of the ElastiCache endpoint. */
  readonly redisUrl: string;
  /**
   * Keep REDIS_AUTH_SECRET_ARN (the provisioned secret): only when the local Redis requires that token.
   * By default it is dropped, and the functions connect without AUTH.
   */
  readonly redisAuth?: boolean;
  /**
   * Most containers of a function whose template sets no ReservedConcurrentExecutions. By default
   * TRADEFLOW_LOCAL_CONCURRENCY, else 16.
   */
  readonly concurrency?: number;
  /** Function timeouts by logical id instead of the template's Timeout: tests that force a timeout. */
  readonly timeoutSeconds?: Readonly<Record<string, number>>;
}

/** Each function's environment as deployed (Globals merged under the function's own), pointed at the local stack. */
export function functionEnvironments(
  stack: ProvisionedResources,
  runtime: LocalRuntimeOptions,
): Record<string, Record<string, string>> {
  const resolver = stackResolver(stack, runtime.redisUrl);
  const globals = globalVariables(resolver.template);
  const environments: Record<string, Record<string, string>> = {};
  for (const [logicalId, resource] of resolver.resourcesOfType("AWS::Serverless::Function")) {
    const variables: Record<string, string> = {};
    for (const [key, value] of Object.entries({ ...globals, ...environmentOf(resource.Properties) })) {
      variables[key] = resolver.resolveString(value);
    }
    // The template's rediss:// (TLS) endpoint becomes the local server's own URL.
    if ("REDIS_URL" in variables) variables.REDIS_URL = runtime.redisUrl;
    if (!runtime.redisAuth) delete variables.REDIS_AUTH_SECRET_ARN;
    environments[logicalId] = variables;
  }
  return environments;
}

export interface LocalWorkflow {
  readonly logicalId: string;
  /** The ASL with every DefinitionSubstitutions value filled in, parsed. */
  readonly definition: Record<string, unknown>;
  /** Which function each Task state's Resource ARN invokes. */
  readonly functionsByArn: Record<string, string>;
}

/** The state machine's definition as the local stack runs it: its Task Resources are localFunctionPhysical ARNs. */
export function workflowDefinition(stack: ProvisionedResources): LocalWorkflow {
  const resolver = stackResolver(stack);
  const machines = resolver.resourcesOfType("AWS::Serverless::StateMachine");
  const [machine] = machines;
  if (!machine || machines.length > 1) throw new Error("the template must declare exactly one state machine");
  const [logicalId, resource] = machine;
  const { DefinitionUri, DefinitionSubstitutions } = z
    .object({ DefinitionUri: z.string(), DefinitionSubstitutions: z.record(z.string(), z.unknown()) })
    .parse(resource.Properties);
  const substitutions = Object.fromEntries(
    Object.entries(DefinitionSubstitutions).map(([name, value]) => [name, resolver.resolveString(value)]),
  );
  const text = readFileSync(templateFile(DefinitionUri), "utf8").replace(/\$\{([^}]+)\}/g, (_, name: string) => {
    const value = substitutions[name];
    if (value === undefined)
      throw new UnresolvedReferenceError(`the ASL's \${${name}} has no DefinitionSubstitutions entry`);
    return value;
  });
  const functionsByArn = Object.fromEntries(
    resolver
      .resourcesOfType("AWS::Serverless::Function")
      .map(([id]) => [localFunctionPhysical(id, stack).attributes?.Arn ?? "", id]),
  );
  return { logicalId, definition: z.record(z.string(), z.unknown()).parse(JSON.parse(text)), functionsByArn };
}
