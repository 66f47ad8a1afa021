// The whole pipeline on one machine: real redis-server, DynamoDB Local and moto; the resources of template.yaml;
// the functions from their bundles; the ASL on aws-local-stepfunctions; the bus and its rules; the alert queue's
// event source; one gateway endpoint in front; and the template's HTTP API on its own port, with the local OIDC
// issuer its JWT authorizer trusts. This module only wires them: template.yaml is loaded once here,
// and each service's folder makes its part of it (lambda/, stepfunctions/, events/, sqs/, sns/...).
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQSClient } from "@aws-sdk/client-sqs";
import { httpApiDefinition, jwtIssuerParameters } from "./apigateway/definition";
import { LocalHttpApi } from "./apigateway/http-api";
import { LocalIssuer } from "./apigateway/issuer";
import { EventBridgeError, type EventEnvelope, type LocalEventBus } from "./events/bus";
import { compileEventPattern } from "./events/event-pattern";
import { localEventBus } from "./events/rules";
import { Gateway } from "./gateway";
import { sqsEventSources } from "./lambda/event-sources";
import { functionHost } from "./lambda/functions";
import type { FunctionHost } from "./lambda/host";
import type { SqsEventSource } from "./lambda/sqs-event-source";
import { type ProvisionedResources, provisionFromTemplate, stackResolver } from "./provision";
import { type LocalServer, startDynamoDbLocal, startMoto, startRedis } from "./servers";
import { subscribeInboxes } from "./sns/topics";
import { MessageMoveTasks } from "./sqs/move-tasks";
import { localStateMachine } from "./stepfunctions/machine";
import { type Execution, type LocalStateMachine, StepFunctionsError } from "./stepfunctions/workflow";
import { loadTemplate } from "./template";

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
  /** The HTTP API's port; a free loopback port by default. */
  readonly apiPort?: number;
  /** Template parameter values instead of the defaults (a low ApiThrottlingRateLimit...); Stage is `stage`. */
  readonly parameters?: Readonly<Record<string, string>>;
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
  /** The template's HTTP API (the trading API). */
  readonly apiEndpoint: string;
  /** The OIDC issuer the API's JWT authorizer trusts: `issuer.token(clientId)` mints an access token. */
  readonly issuer: LocalIssuer;
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
    const template = loadTemplate();
    // The issuer listens first: the API's JWT authorizers take its URL through their issuer parameter.
    const issuer = new LocalIssuer();
    const issuerUrl = await issuer.listen();
    stops.push(() => issuer.close());
    const provisioning = {
      dynamoEndpoint: servers.dynamoEndpoint,
      motoEndpoint: servers.motoEndpoint,
      region,
      stage,
      parameters: {
        ...options.parameters,
        ...Object.fromEntries(jwtIssuerParameters(template).map((p) => [p, issuerUrl])),
      },
    };
    const resources = await provisionFromTemplate(template, provisioning);
    const resolver = stackResolver(resources, servers.redisUrl);

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
      resolver,
    );
    stops.push(() => functions.stop());

    const machine = localStateMachine(
      resources,
      {
        invoke: (logicalId, input) => functions.invoke(logicalId, input),
        sqs,
        tuning: {
          ...(options.timing?.taskRetryMs !== undefined && { retryIntervalMs: options.timing.taskRetryMs }),
          ...(options.retainExecutions !== undefined && { retainExecutions: options.retainExecutions }),
          ...(options.maxRunningExecutions !== undefined && { maxRunning: options.maxRunningExecutions }),
        },
      },
      resolver,
    );
    const bus = localEventBus(resolver, resources, machine, sqs, options.timing?.eventRetryBaseMs);
    stops.push(() => bus.stop());
    const moveTasks = new MessageMoveTasks(sqs);
    stops.push(() => moveTasks.idle());
    let draining = false;
    const stopping = "the local stack is stopping: it takes no new work while executions in flight finish";
    const routes = bus.ruleList.map((rule) => compileEventPattern(rule.eventPattern));
    // The endpoints' view of the bus: the rules' deliveries still start executions.
    const busWhileDraining = refusedWhileDraining(bus, ["route"], (event: EventEnvelope) => {
      if (draining && routes.some((matches) => matches(event)))
        throw new EventBridgeError("ServiceUnavailableException", stopping);
    });
    gateway.serve({
      machines: [
        refusedWhileDraining(machine, ["start", "startSync"], () => {
          if (draining) throw new StepFunctionsError("ServiceUnavailableException", stopping);
        }),
      ],
      bus: busWhileDraining,
      dynamoEndpoint: servers.dynamoEndpoint,
      motoEndpoint: servers.motoEndpoint,
      moveTasks,
    });

    const eventSources = sqsEventSources(functions, resources, sqs, options.timing?.sqsRetryVisibilitySeconds);
    for (const source of eventSources) {
      source.start();
      stops.push(() => source.stop());
    }
    const motoEndpoint = servers.motoEndpoint;
    const topicInboxes = await subscribeInboxes(resources, motoEndpoint, sqs);

    const api = new LocalHttpApi(
      httpApiDefinition(resolver),
      { functions, bus: busWhileDraining },
      { accountId: resources.accountId, ...(options.logDir && { logDir: options.logDir }) },
    );
    const apiEndpoint = await api.listen(options.apiPort);
    stops.push(() => api.close());
    const [audience] = api.definition.authorizers.flatMap((a) => a.audience);
    if (audience !== undefined) issuer.serve(audience);

    return {
      endpoint,
      apiEndpoint,
      issuer,
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
        await provisionFromTemplate(template, provisioning);
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
