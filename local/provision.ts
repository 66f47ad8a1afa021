// Creates the local stack's resources from template.yaml, each service its own (dynamodb/, sqs/, sns/, events/,
// secretsmanager/, ssm/): tables in DynamoDB Local; queues (with redrive), topics, the bus, the Redis AUTH secret
// and the SSM parameters in moto. Idempotent: what exists is kept (parameters are rewritten to the template's
// values). KMS settings are left out: nothing local encrypts.
import { createTables } from "./dynamodb/tables";
import { createBus } from "./events/rules";
import { createSecrets } from "./secretsmanager/secrets";
import { createTopics } from "./sns/topics";
import { createQueues } from "./sqs/queues";
import { createParameters } from "./ssm/parameters";
import { type CfnTemplate, environmentOf, type PhysicalResource, TemplateResolver } from "./template";

export interface ProvisionOptions {
  readonly dynamoEndpoint: string;
  readonly motoEndpoint: string;
  readonly region: string;
  readonly stage: string;
  /** Template parameter overrides besides Stage. */
  readonly parameters?: Readonly<Record<string, string>>;
}

/** Physical names by template logical id. */
export interface ProvisionedResources {
  /** The template they were created from. */
  readonly template: CfnTemplate;
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

/** What each service's creation reads the template with, and where it records what it made. */
export interface ProvisionContext extends ProvisionOptions {
  readonly resolver: TemplateResolver;
  /** Filled in as resources are created: later resources may refer to earlier ones. */
  readonly physical: Record<string, PhysicalResource>;
}

/** A resource's physical name: the one its properties give, else CloudFormation's `<stack>-<logical id>`. */
export function physicalName(context: ProvisionContext, logicalId: string, name: string | undefined): string {
  return name ?? `${context.resolver.stackName}-${logicalId}`;
}

/** Whether `err` is the SDK's "no such resource" error of that class (by name: moto's may be another instance). */
export function isMissing(err: unknown, type: abstract new (...args: never[]) => Error): boolean {
  return err instanceof type || (err instanceof Error && err.name === type.name);
}

export async function provisionFromTemplate(
  template: CfnTemplate,
  options: ProvisionOptions,
): Promise<ProvisionedResources> {
  const templateParameters = { ...options.parameters, Stage: options.stage };
  const physical: Record<string, PhysicalResource> = {};
  const context = (accountId?: string): ProvisionContext => ({
    ...options,
    physical,
    resolver: new TemplateResolver(template, {
      region: options.region,
      ...(accountId && { accountId }),
      parameters: templateParameters,
      resources: physical,
    }),
  });
  // Topics first: their ARNs reveal moto's account id, which the rest of the template may need.
  const topics = await createTopics(context());
  const accountId = Object.values(topics)[0]?.split(":")[4];
  if (!accountId) throw new Error("the template needs at least one SNS topic to learn moto's account id");
  const rest = context(accountId);
  const tables = await createTables(rest);
  const queues = await createQueues(rest);
  const bus = await createBus(rest);
  const secrets = await createSecrets(rest);
  const parameters = await createParameters(rest);
  return {
    template,
    tables,
    queues,
    topics,
    bus,
    parameters,
    configPath: rest.resolver.resolveString(environmentOf(template.Globals.Function).CONFIG_PATH),
    secrets,
    region: options.region,
    accountId,
    stackName: rest.resolver.stackName,
    templateParameters,
    physical,
  };
}

/** The local stack's name for a function, and the ARN the workflow's Task states then carry. */
export function localFunctionPhysical(
  logicalId: string,
  stack: Pick<ProvisionedResources, "region" | "accountId" | "stackName">,
): PhysicalResource {
  const name = `${stack.stackName}-${logicalId}`;
  return { ref: name, attributes: { Arn: `arn:aws:lambda:${stack.region}:${stack.accountId}:function:${name}` } };
}

/** A resolver over the provisioned stack: functions named as the local stack names them, the cache at local Redis. */
export function stackResolver(stack: ProvisionedResources, localRedisUrl?: string): TemplateResolver {
  const resources: Record<string, PhysicalResource> = {};
  for (const [id, resource] of Object.entries(stack.template.Resources)) {
    if (resource.Type === "AWS::Serverless::Function") resources[id] = localFunctionPhysical(id, stack);
    // The HTTP API's id (its apiId locally), so that the functions' HttpApi events resolve.
    if (resource.Type === "AWS::Serverless::HttpApi") resources[id] = { ref: `${stack.stackName}-${id}` };
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
  return new TemplateResolver(stack.template, {
    region: stack.region,
    accountId: stack.accountId,
    stackName: stack.stackName,
    parameters: stack.templateParameters,
    resources: { ...resources, ...stack.physical },
  });
}
