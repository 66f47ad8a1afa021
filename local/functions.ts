// The template's functions, run in-process from the bundles the images and the zip ship (build/<name>/index.mjs):
// each container a worker thread (local/lambda-worker.mjs) with the function's template environment. Invocations are JSON in and out, as Lambda's; a thrown error comes back as Lambda reports it.
import { createWriteStream, existsSync, mkdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { z } from "zod";
import { functionEnvironments, type LocalRuntimeOptions, type ProvisionedResources, stackResolver } from "./provision";
import { repoRoot } from "./servers";
import { templateFile } from "./template";

export interface LocalFunction {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  /** The bundle's directory under build/ (validator, matcher...). */
  readonly codeName: string;
  readonly handlerName: string;
  readonly timeoutSeconds: number;
  readonly memorySize: number;
  readonly environment: Readonly<Record<string, string>>;
  /** The function's Events, resolved against the local stack (SQS event sources among them). */
  readonly events: Readonly<Record<string, { Type: string; Properties: Record<string, unknown> }>>;
}

/** A function error as Step Functions sees it: `name` is Lambda's errorType, `message` its JSON error payload. */
export class LambdaFunctionError extends Error {
  constructor(
    readonly errorType: string,
    readonly errorMessage: string,
    readonly trace: readonly string[] = [],
  ) {
    super(JSON.stringify({ errorType, errorMessage, trace }));
    this.name = errorType;
  }
}

const FunctionProperties = z.object({
  PackageType: z.enum(["Image", "Zip"]).default("Zip"),
  CodeUri: z.string().optional(),
  Handler: z.string().optional(),
  ImageConfig: z.object({ Command: z.array(z.string()).optional() }).optional(),
  Timeout: z.coerce.number().int().positive().optional(),
  MemorySize: z.coerce.number().int().positive().optional(),
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

/** Every function of the template as the local stack runs it. */
export function localFunctions(stack: ProvisionedResources, runtime: LocalRuntimeOptions): LocalFunction[] {
  const resolver = stackResolver(stack, runtime.redisUrl);
  const environments = functionEnvironments(stack, runtime);
  const globals = Globals.parse(resolver.template.Globals.Function);
  return resolver.resourcesOfType("AWS::Serverless::Function").map(([logicalId, resource]) => {
    const properties = FunctionProperties.parse(resource.Properties);
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
    const events = Object.fromEntries(
      Object.entries(properties.Events ?? {}).map(([id, event]) => {
        const resolved = z.record(z.string(), z.unknown()).parse(resolver.resolve(event.Properties));
        return [id, { Type: event.Type, Properties: resolved }];
      }),
    );
    return {
      logicalId,
      name,
      arn: `arn:aws:lambda:${stack.region}:${stack.accountId}:function:${name}`,
      codeName,
      handlerName,
      timeoutSeconds: properties.Timeout ?? globals.Timeout,
      memorySize: properties.MemorySize ?? globals.MemorySize,
      environment: environments[logicalId] ?? {},
      events,
    };
  });
}

interface Pending {
  resolve(payload: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

const Reply = z.union([
  z.object({ ready: z.literal(true) }),
  z.object({ id: z.number(), ok: z.literal(true), payload: z.string() }),
  z.object({
    id: z.number(),
    ok: z.literal(false),
    errorType: z.string(),
    errorMessage: z.string(),
    trace: z.array(z.string()),
  }),
]);

/** A function's process.env as Lambda sets it: the base (credentials, region, endpoints), its own, Lambda's. */
export function lambdaEnvironment(
  fn: LocalFunction,
  baseEnvironment: Readonly<Record<string, string>>,
): Record<string, string> {
  return {
    ...baseEnvironment,
    ...fn.environment,
    AWS_LAMBDA_FUNCTION_NAME: fn.name,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize),
    AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
    _HANDLER: `index.${fn.handlerName}`,
  };
}

class FunctionContainer {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(
    readonly fn: LocalFunction,
    private readonly baseEnvironment: Readonly<Record<string, string>>,
    private readonly log: NodeJS.WritableStream | undefined,
  ) {}

  private start(): Promise<void> {
    const bundle = join(repoRoot, "build", this.fn.codeName, "index.mjs");
    if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run npm run build`);
    const worker = new Worker(new URL("./lambda-worker.mjs", import.meta.url), {
      workerData: {
        bundle: pathToFileURL(bundle).href,
        handlerName: this.fn.handlerName,
        functionName: this.fn.name,
        functionArn: this.fn.arn,
        memorySize: this.fn.memorySize,
      },
      env: lambdaEnvironment(this.fn, this.baseEnvironment),
      stdout: true,
      stderr: true,
    });
    for (const stream of [worker.stdout, worker.stderr]) {
      if (this.log) stream.pipe(this.log, { end: false });
      else stream.resume();
    }
    this.worker = worker;
    return new Promise((resolve, reject) => {
      worker.on("message", (message: unknown) => {
        const reply = Reply.parse(message);
        if ("ready" in reply) return resolve();
        const pending = this.pending.get(reply.id);
        if (!pending) return;
        this.pending.delete(reply.id);
        clearTimeout(pending.timer);
        if (reply.ok) pending.resolve(JSON.parse(reply.payload));
        else pending.reject(new LambdaFunctionError(reply.errorType, reply.errorMessage, reply.trace));
      });
      // A crashed container fails what it was running (Runtime.ExitError) and is replaced on the next invoke.
      const crashed = (err: Error) => {
        if (this.worker === worker) {
          this.worker = undefined;
          this.ready = undefined;
        }
        reject(err);
        for (const [id, pending] of this.pending) {
          clearTimeout(pending.timer);
          this.pending.delete(id);
          pending.reject(new LambdaFunctionError("Runtime.ExitError", `${this.fn.name}: ${err.message}`));
        }
      };
      worker.on("error", crashed);
      worker.on("exit", (code) => crashed(new Error(`the runtime exited with code ${code}`)));
    });
  }

  async invoke(event: unknown): Promise<unknown> {
    this.ready ??= this.start();
    await this.ready;
    const worker = this.worker;
    if (!worker) throw new LambdaFunctionError("Runtime.ExitError", `${this.fn.name} is not running`);
    const id = this.nextId++;
    const timeoutMs = this.fn.timeoutSeconds * 1000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new LambdaFunctionError(
            "Sandbox.Timedout",
            `Task timed out after ${this.fn.timeoutSeconds.toFixed(2)} seconds`,
          ),
        );
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      worker.postMessage({ id, payload: JSON.stringify(event ?? null), deadline: Date.now() + timeoutMs });
    });
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.ready = undefined;
    if (worker) await worker.terminate();
  }
}

export interface FunctionHostOptions {
  /** Variables every function gets under its own: credentials, region, the local endpoints. */
  readonly baseEnvironment: Readonly<Record<string, string>>;
  /** Each function's stdout and stderr (its Powertools logs and EMF metrics) go to <logDir>/<LogicalId>.log. */
  readonly logDir?: string;
  /** Warm containers per function; more concurrent invocations wait for one to be free. */
  readonly containersPerFunction?: number;
}

/**
 * One function's containers. Like Lambda's, each runs one invocation at a time (module state such as Powertools'
 * BatchProcessor assumes it); a new one starts, cold, while all are busy and the cap is not reached.
 */
class FunctionPool {
  private readonly all: FunctionContainer[] = [];
  private readonly idle: FunctionContainer[] = [];
  private readonly waiting: ((container: FunctionContainer) => void)[] = [];

  constructor(
    private readonly create: () => FunctionContainer,
    private readonly max: number,
  ) {}

  private acquire(): Promise<FunctionContainer> {
    const free = this.idle.pop();
    if (free) return Promise.resolve(free);
    if (this.all.length < this.max) {
      const container = this.create();
      this.all.push(container);
      return Promise.resolve(container);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(container: FunctionContainer): void {
    const next = this.waiting.shift();
    if (next) next(container);
    else this.idle.push(container);
  }

  async invoke(event: unknown): Promise<unknown> {
    const container = await this.acquire();
    try {
      return await container.invoke(event);
    } finally {
      this.release(container);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.all.map((c) => c.stop()));
  }
}

export class FunctionHost {
  private readonly pools = new Map<string, FunctionPool>();

  constructor(
    readonly functions: readonly LocalFunction[],
    options: FunctionHostOptions,
  ) {
    if (options.logDir) mkdirSync(options.logDir, { recursive: true });
    for (const fn of functions) {
      const log = options.logDir
        ? createWriteStream(join(options.logDir, `${fn.logicalId}.log`), { flags: "a" })
        : undefined;
      const create = () => new FunctionContainer(fn, options.baseEnvironment, log);
      this.pools.set(fn.logicalId, new FunctionPool(create, options.containersPerFunction ?? 4));
    }
  }

  /** A function by logical id, name or ARN. */
  find(id: string): LocalFunction | undefined {
    return this.functions.find((fn) => fn.logicalId === id || fn.name === id || fn.arn === id);
  }

  invoke(id: string, event: unknown): Promise<unknown> {
    const fn = this.find(id);
    const pool = fn && this.pools.get(fn.logicalId);
    if (!pool) return Promise.reject(new LambdaFunctionError("Lambda.ResourceNotFoundException", `no function ${id}`));
    return pool.invoke(event);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.stop()));
  }
}
