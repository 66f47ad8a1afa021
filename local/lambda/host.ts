// The functions, run in-process from the bundles the images and the zip ship (build/<name>/index.mjs): each
// container a worker thread (lambda-worker.mjs) with the function's template environment, scaled out
// on demand as Lambda scales execution environments. Invocations are JSON in and out, as Lambda's; a thrown error
// comes back as Lambda reports it.
import { createWriteStream, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { z } from "zod";

export interface LocalFunction {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  /** The bundle: build/<name>/index.mjs, <name> the function's directory under functions/. */
  readonly bundle: string;
  readonly handlerName: string;
  readonly timeoutSeconds: number;
  /** Most containers at once: the template's ReservedConcurrentExecutions, else the local cap. */
  readonly concurrency: number;
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

/** What one invocation cost: its thread's CPU time and the HTTP requests it made, by host (host:port). */
const Cost = z.object({ requests: z.record(z.string(), z.number()), cpuMicros: z.number() });
type Cost = z.infer<typeof Cost>;
const Reply = z.union([
  z.object({ ready: z.literal(true) }),
  Cost.extend({ ok: z.literal(true), payload: z.string() }),
  Cost.extend({
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

/**
 * One execution environment: a worker thread that imports the bundle once (the cold start), then runs one
 * invocation at a time, as a Lambda container does (module state such as Powertools' BatchProcessor assumes it).
 * A timeout ends it, as Lambda ends a sandbox whose handler overran, so a handler still running is never handed
 * the next invocation; a crash ends it too.
 */
class FunctionContainer {
  private readonly worker: Worker;
  /** Settles when the bundle is imported (the cold start is over) or the runtime failed to start. */
  readonly ready: Promise<void>;
  private current: { resolve(payload: unknown): void; reject(err: Error): void } | undefined;
  private ended = false;

  constructor(
    private readonly fn: LocalFunction,
    baseEnvironment: Readonly<Record<string, string>>,
    log: NodeJS.WritableStream | undefined,
    onCost: (cost: Cost) => void,
  ) {
    this.worker = new Worker(new URL("./lambda-worker.mjs", import.meta.url), {
      workerData: {
        bundle: pathToFileURL(fn.bundle).href,
        handlerName: fn.handlerName,
        functionName: fn.name,
        functionArn: fn.arn,
        memorySize: fn.memorySize,
      },
      env: lambdaEnvironment(fn, baseEnvironment),
      stdout: true,
      stderr: true,
    });
    // Written, not piped: every container of the function shares its log stream, and each pipe would add listeners.
    for (const stream of [this.worker.stdout, this.worker.stderr]) {
      stream.on("data", (chunk: Buffer) => log?.write(chunk));
    }
    this.ready = new Promise((resolve, reject) => {
      this.worker.on("message", (message: unknown) => {
        const reply = Reply.parse(message);
        if ("ready" in reply) return resolve();
        onCost(reply);
        const current = this.current;
        this.current = undefined;
        if (reply.ok) current?.resolve(JSON.parse(reply.payload));
        else current?.reject(new LambdaFunctionError(reply.errorType, reply.errorMessage, reply.trace));
      });
      const exited = (err: Error) => {
        this.ended = true;
        reject(err);
        const current = this.current;
        this.current = undefined;
        current?.reject(new LambdaFunctionError("Runtime.ExitError", `${fn.name}: ${err.message}`));
      };
      this.worker.on("error", exited);
      this.worker.on("exit", (code) => exited(new Error(`the runtime exited with code ${code}`)));
    });
  }

  /** False once the runtime has ended: it crashed, timed out or was stopped. */
  get alive(): boolean {
    return !this.ended;
  }

  get busy(): boolean {
    return this.current !== undefined;
  }

  async invoke(event: unknown): Promise<unknown> {
    await this.ready;
    if (this.ended) throw new LambdaFunctionError("Runtime.ExitError", `${this.fn.name} is not running`);
    const timeoutMs = this.fn.timeoutSeconds * 1000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.current = undefined;
        void this.stop();
        const seconds = this.fn.timeoutSeconds.toFixed(2);
        reject(new LambdaFunctionError("Sandbox.Timedout", `Task timed out after ${seconds} seconds`));
      }, timeoutMs);
      this.current = {
        resolve: (payload) => {
          clearTimeout(timer);
          resolve(payload);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.worker.postMessage({ payload: JSON.stringify(event ?? null), deadline: Date.now() + timeoutMs });
    });
  }

  async stop(): Promise<void> {
    this.ended = true;
    await this.worker.terminate();
  }
}

/**
 * One function's containers, scaled as Lambda scales them: a free (warm) container takes the invocation; while
 * all are busy a new one starts (cold), up to the function's concurrency; beyond that the invocation waits for a
 * container to be free (where Lambda would throttle: see docs/local.md). Unlike Lambda, one cold start at a time
 * per function: here they share two cores with everything else, and a burst that started many at once would
 * stall the whole stack for seconds. An invocation meanwhile takes whichever is first, a freed container or the
 * new one.
 */
class FunctionPool {
  private readonly containers = new Set<FunctionContainer>();
  private readonly idle: FunctionContainer[] = [];
  private readonly waiting: ((container: FunctionContainer) => void)[] = [];
  private starting = false;

  constructor(
    private readonly create: () => FunctionContainer,
    private readonly concurrency: number,
  ) {}

  private get canScale(): boolean {
    return !this.starting && this.containers.size < this.concurrency;
  }

  /** Starts a container; once it is up, the next waiting invocation may start another. */
  private coldStart(): FunctionContainer {
    const container = this.create();
    this.containers.add(container);
    this.starting = true;
    const started = () => {
      this.starting = false;
      const next = this.canScale ? this.waiting.shift() : undefined;
      if (next) next(this.coldStart());
    };
    container.ready.then(started, started);
    return container;
  }

  private acquire(): Promise<FunctionContainer> {
    for (let warm = this.idle.pop(); warm; warm = this.idle.pop()) {
      if (warm.alive) return Promise.resolve(warm);
      this.containers.delete(warm);
    }
    if (this.canScale) return Promise.resolve(this.coldStart());
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** An ended container gives its place to a fresh one. */
  private release(container: FunctionContainer): void {
    if (!container.alive) this.containers.delete(container);
    if (container.alive) {
      const next = this.waiting.shift();
      if (next) next(container);
      else this.idle.push(container);
    } else if (this.waiting.length > 0 && this.canScale) {
      this.waiting.shift()?.(this.coldStart());
    }
  }

  async invoke(event: unknown): Promise<unknown> {
    const container = await this.acquire();
    try {
      return await container.invoke(event);
    } finally {
      this.release(container);
    }
  }

  /** Ends every container with an invocation in flight, as a sandbox that crashes: each gets Runtime.ExitError. */
  crashBusy(): number {
    const busy = [...this.containers].filter((c) => c.busy);
    for (const container of busy) void container.stop();
    return busy.length;
  }

  /** Ends the idle (warm) containers, as Lambda reclaims environments that stay unused. */
  async reclaimIdle(): Promise<void> {
    const idle = this.idle.splice(0);
    for (const container of idle) this.containers.delete(container);
    await Promise.all(idle.map((c) => c.stop()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.containers].map((c) => c.stop()));
  }
}

export interface FunctionHostOptions {
  /** Variables every function gets under its own: credentials, region, the local endpoints. */
  readonly baseEnvironment: Readonly<Record<string, string>>;
  /** Each function's stdout and stderr (its Powertools logs and EMF metrics) go to <logDir>/<LogicalId>.log. */
  readonly logDir?: string;
}

/** What a function's invocations cost: CPU, and requests to each AWS service (by the endpoint variable naming it). */
export interface FunctionUsage {
  invocations: number;
  cpuMs: number;
  requests: Record<string, number>;
}

export class FunctionHost {
  private readonly pools = new Map<string, FunctionPool>();
  private readonly usage = new Map<string, FunctionUsage>();
  /** host:port -> DYNAMODB, EVENTBRIDGE... (AWS_ENDPOINT_URL_<SERVICE>), or AWS for the catch-all endpoint. */
  private readonly services = new Map<string, string>();

  constructor(
    readonly functions: readonly LocalFunction[],
    options: FunctionHostOptions,
  ) {
    if (options.logDir) mkdirSync(options.logDir, { recursive: true });
    for (const [name, url] of Object.entries(options.baseEnvironment)) {
      const service = /^AWS_ENDPOINT_URL(?:_(\w+))?$/.exec(name);
      if (service && URL.canParse(url) && !this.services.has(new URL(url).host)) {
        this.services.set(new URL(url).host, service[1] ?? "AWS");
      }
    }
    for (const fn of functions) {
      if (!existsSync(fn.bundle)) throw new Error(`${fn.bundle} is missing: run npm run build`);
      const log = options.logDir
        ? createWriteStream(join(options.logDir, `${fn.logicalId}.log`), { flags: "a" })
        : undefined;
      const usage: FunctionUsage = { invocations: 0, cpuMs: 0, requests: {} };
      this.usage.set(fn.logicalId, usage);
      const count = ({ requests, cpuMicros }: Cost) => {
        usage.invocations += 1;
        usage.cpuMs += cpuMicros / 1000;
        for (const [host, n] of Object.entries(requests)) {
          const service = this.services.get(host) ?? host;
          usage.requests[service] = (usage.requests[service] ?? 0) + n;
        }
      };
      const create = () => new FunctionContainer(fn, options.baseEnvironment, log, count);
      this.pools.set(fn.logicalId, new FunctionPool(create, fn.concurrency));
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

  /** Fault injection: crashes the function's containers that are running an invocation; how many there were. */
  crashBusy(id: string): number {
    const fn = this.find(id);
    return (fn && this.pools.get(fn.logicalId)?.crashBusy()) ?? 0;
  }

  /** Every function's completed invocations, their CPU and the AWS requests they made, since the host started. */
  usageSoFar(): Record<string, FunctionUsage> {
    return Object.fromEntries([...this.usage].map(([id, u]) => [id, { ...u, requests: { ...u.requests } }]));
  }

  /** Ends every function's idle containers: the next invocations start cold. */
  async reclaimIdle(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.reclaimIdle()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.stop()));
  }
}
