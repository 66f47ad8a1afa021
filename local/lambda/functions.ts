// The template's functions as the local stack runs them: each one's bundle, handler, timeout, memory and
// concurrency, and its environment as deployed (Globals merged under its own) pointed at the local servers.
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { z } from "zod";
import { type ProvisionedResources, stackResolver } from "../provision";
import { repoRoot } from "../servers";
import { environmentOf, templateFile } from "../template";
import { FunctionHost, type LocalFunction } from "./host";

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

const FunctionProperties = z.object({
  PackageType: z.enum(["Image", "Zip"]).default("Zip"),
  CodeUri: z.string().optional(),
  Handler: z.string().optional(),
  ImageConfig: z.object({ Command: z.array(z.string()).optional() }).optional(),
  Timeout: z.coerce.number().int().positive().optional(),
  MemorySize: z.coerce.number().int().positive().optional(),
  ReservedConcurrentExecutions: z.coerce.number().int().positive().optional(),
  Events: z
    .record(z.string(), z.object({ Type: z.string(), Properties: z.record(z.string(), z.unknown()) }))
    .optional(),
});
const FunctionMetadata = z.object({
  Dockerfile: z.string().optional(),
  /** The shared image Dockerfile takes the function's directory under functions/ as FUNCTION. */
  DockerBuildArgs: z.object({ FUNCTION: z.string() }).optional(),
});
const Globals = z.object({
  Timeout: z.coerce.number().int().positive().default(3),
  MemorySize: z.coerce.number().int().positive().default(128),
});

/** The image's CMD (["index.handler"]) as the Dockerfile declares it. */
function dockerCommand(dockerfile: string | undefined): string[] {
  if (!dockerfile) throw new Error("an image function without ImageConfig.Command needs Metadata.Dockerfile");
  const cmd = readFileSync(templateFile(dockerfile), "utf8").match(/^CMD\s+(\[.*\])\s*$/m)?.[1];
  if (!cmd) throw new Error(`${dockerfile} has no exec-form CMD`);
  return z.array(z.string()).parse(JSON.parse(cmd));
}

/** Containers per function when the template reserves no concurrency and the runtime options name no cap. */
export const DEFAULT_LOCAL_CONCURRENCY = 16;

const LocalConcurrency = z.coerce.number().int().positive().default(DEFAULT_LOCAL_CONCURRENCY);

/** Every function of the template as the local stack runs it. */
export function localFunctions(
  stack: ProvisionedResources,
  runtime: LocalRuntimeOptions,
  resolver = stackResolver(stack, runtime.redisUrl),
): LocalFunction[] {
  const environments = functionEnvironments(stack, runtime, resolver);
  const globals = Globals.parse(resolver.template.Globals.Function);
  const localCap = runtime.concurrency ?? LocalConcurrency.parse(process.env.TRADEFLOW_LOCAL_CONCURRENCY);
  return resolver.resourcesOfType("AWS::Serverless::Function").map(([logicalId, resource]) => {
    const properties = resolver.properties(FunctionProperties, resource.Properties);
    const metadata = FunctionMetadata.parse(resource.Metadata ?? {});
    // An image's code is functions/<FUNCTION>, a zip's its CodeUri (functions/<name>).
    const codeName = metadata.DockerBuildArgs?.FUNCTION ?? (properties.CodeUri && basename(properties.CodeUri));
    if (!codeName) throw new Error(`${logicalId} names neither DockerBuildArgs.FUNCTION nor a CodeUri`);
    const handler =
      properties.PackageType === "Image"
        ? (properties.ImageConfig?.Command ?? dockerCommand(metadata.Dockerfile))[0]
        : properties.Handler;
    const handlerName = handler?.split(".").pop();
    if (!handlerName) throw new Error(`${logicalId} has no handler`);
    const name = `${stack.stackName}-${logicalId}`;
    return {
      logicalId,
      name,
      arn: `arn:aws:lambda:${stack.region}:${stack.accountId}:function:${name}`,
      bundle: join(repoRoot, "build", codeName, "index.mjs"),
      handlerName,
      timeoutSeconds: runtime.timeoutSeconds?.[logicalId] ?? properties.Timeout ?? globals.Timeout,
      concurrency: properties.ReservedConcurrentExecutions ?? localCap,
      memorySize: properties.MemorySize ?? globals.MemorySize,
      environment: environments[logicalId] ?? {},
      events: properties.Events ?? {},
    };
  });
}

/** Each function's environment as deployed (Globals merged under the function's own), pointed at the local stack. */
export function functionEnvironments(
  stack: ProvisionedResources,
  runtime: LocalRuntimeOptions,
  resolver = stackResolver(stack, runtime.redisUrl),
): Record<string, Record<string, string>> {
  const globals = environmentOf(resolver.template.Globals.Function);
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

/**
 * The template's functions on the local servers: each gets its template environment plus credentials, region and
 * endpoints (EventBridge and Step Functions at the gateway when there is one, moto otherwise).
 */
export function functionHost(
  resources: ProvisionedResources,
  endpoints: LocalEndpoints,
  options: Omit<LocalRuntimeOptions, "redisUrl"> & { logDir?: string } = {},
  resolver = stackResolver(resources, endpoints.redisUrl),
): FunctionHost {
  const { logDir, ...runtime } = options;
  return new FunctionHost(localFunctions(resources, { ...runtime, redisUrl: endpoints.redisUrl }, resolver), {
    baseEnvironment: functionBaseEnvironment(resources, endpoints),
    ...(logDir && { logDir }),
  });
}
