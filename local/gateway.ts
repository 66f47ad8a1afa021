// One local endpoint for SDKs and the aws CLI (--endpoint-url): the Step Functions API subset and EventBridge
// PutEvents are served here (the local state machine and bus); DynamoDB calls are passed to DynamoDB Local and
// everything else (SQS, SNS, SSM, Secrets Manager, the rest of EventBridge) to moto, byte for byte.
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import { z } from "zod";
import { EventBridgeError, type LocalEventBus } from "./eventbus";
import { type Execution, type ExecutionStatus, type LocalStateMachine, StepFunctionsError } from "./workflow";

export interface GatewayBackends {
  readonly machines: readonly LocalStateMachine[];
  readonly bus: LocalEventBus;
  readonly dynamoEndpoint: string;
  readonly motoEndpoint: string;
}

const seconds = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);

function summary(e: Execution) {
  return {
    executionArn: e.executionArn,
    stateMachineArn: e.stateMachineArn,
    name: e.name,
    status: e.status,
    startDate: seconds(e.startDate),
    stopDate: seconds(e.stopDate),
  };
}

function described(e: Execution) {
  return {
    ...summary(e),
    input: e.input,
    inputDetails: { included: true },
    ...(e.output !== undefined && { output: e.output, outputDetails: { included: true } }),
    ...(e.error !== undefined && { error: e.error, cause: e.cause }),
  };
}

function page<T>(items: T[], maxResults: number | undefined, nextToken: string | undefined) {
  const start = nextToken ? Number(Buffer.from(nextToken, "base64url").toString()) : 0;
  if (!Number.isInteger(start) || start < 0) throw new StepFunctionsError("InvalidToken", "Invalid Token");
  const size = maxResults && maxResults > 0 ? Math.min(maxResults, 1000) : 100;
  const end = start + size;
  return {
    items: items.slice(start, end),
    nextToken: end < items.length ? Buffer.from(String(end)).toString("base64url") : undefined,
  };
}

const Arn = z.object({ stateMachineArn: z.string() });
const ExecArn = z.object({ executionArn: z.string() });
const Start = Arn.extend({ name: z.string().optional(), input: z.string().default("{}") });
const List = Arn.extend({
  statusFilter: z.enum(["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]).optional(),
  maxResults: z.number().int().optional(),
  nextToken: z.string().optional(),
});
const History = ExecArn.extend({
  maxResults: z.number().int().optional(),
  nextToken: z.string().optional(),
  reverseOrder: z.boolean().default(false),
  includeExecutionData: z.boolean().default(true),
});

export class Gateway {
  private readonly server: Server;
  private backends: GatewayBackends | undefined;

  constructor() {
    this.server = createServer((req, res) => void this.handle(req, res));
    // Longer than the SDKs' idle sockets live, so a client never reuses a connection the server is closing.
    this.server.keepAliveTimeout = 65_000;
  }

  listen(port = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", () => {
        const address = this.server.address();
        resolve(typeof address === "object" && address ? address.port : port);
      });
    });
  }

  /** The gateway listens first (the functions need its URL); its backends arrive once they exist. */
  serve(backends: GatewayBackends): void {
    this.backends = backends;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private machine(arn: string): LocalStateMachine {
    const machine = this.backends?.machines.find((m) => m.arn === arn);
    if (!machine) throw new StepFunctionsError("StateMachineDoesNotExist", `State Machine Does Not Exist: '${arn}'`);
    return machine;
  }

  private execution(arn: string): Execution {
    for (const machine of this.backends?.machines ?? []) {
      const execution = machine.find(arn);
      if (execution) return execution;
    }
    throw new StepFunctionsError("ExecutionDoesNotExist", `Execution Does Not Exist: '${arn}'`);
  }

  private async stepFunctions(operation: string, body: unknown): Promise<unknown> {
    switch (operation) {
      case "StartExecution": {
        const p = Start.parse(body);
        const e = this.machine(p.stateMachineArn).start(p.input, p.name);
        return { executionArn: e.executionArn, startDate: seconds(e.startDate) };
      }
      case "StartSyncExecution": {
        const p = Start.parse(body);
        const e = await this.machine(p.stateMachineArn).startSync(p.input, p.name);
        const billed = Math.ceil(((e.stopDate ?? Date.now()) - e.startDate) / 100) * 100;
        return { ...described(e), billingDetails: { billedMemoryUsedInMB: 64, billedDurationInMilliseconds: billed } };
      }
      case "DescribeExecution":
        return described(this.execution(ExecArn.parse(body).executionArn));
      case "ListExecutions": {
        const p = List.parse(body);
        const { items, nextToken } = page(
          this.machine(p.stateMachineArn).list(p.statusFilter as ExecutionStatus | undefined),
          p.maxResults,
          p.nextToken,
        );
        return { executions: items.map(summary), nextToken };
      }
      case "GetExecutionHistory": {
        const p = History.parse(body);
        const events = [...this.execution(p.executionArn).history];
        if (p.reverseOrder) events.reverse();
        const { items, nextToken } = page(events, p.maxResults, p.nextToken);
        return { events: items.map((e) => ({ ...e, timestamp: seconds(e.timestamp) })), nextToken };
      }
      case "DescribeStateMachine": {
        const m = this.machine(Arn.parse(body).stateMachineArn);
        return {
          stateMachineArn: m.arn,
          name: m.name,
          status: "ACTIVE",
          type: m.options.type,
          definition: JSON.stringify(m.options.definition),
          roleArn: m.arn.replace(/:states:.*/, ":iam::local:role/local"),
          creationDate: seconds(m.createdAt),
        };
      }
      case "ListStateMachines":
        return {
          stateMachines: (this.backends?.machines ?? []).map((m) => ({
            stateMachineArn: m.arn,
            name: m.name,
            type: m.options.type,
            creationDate: seconds(m.createdAt),
          })),
        };
      default:
        throw new StepFunctionsError("UnknownOperationException", `the local stack does not serve ${operation}`);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = String(req.headers["x-amz-target"] ?? "");
    const backends = this.backends;
    if (!backends) return reply(res, 503, { __type: "ServiceUnavailable", message: "the local stack is starting" });
    if (target.startsWith("DynamoDB")) return proxy(req, res, backends.dynamoEndpoint);
    const [service, operation = ""] = target.split(".");
    if (service !== "AWSStepFunctions" && target !== "AWSEvents.PutEvents")
      return proxy(req, res, backends.motoEndpoint);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    try {
      const body: unknown = JSON.parse(Buffer.concat(chunks).toString() || "{}");
      const result =
        service === "AWSStepFunctions" ? await this.stepFunctions(operation, body) : backends.bus.putEvents(body);
      reply(res, 200, result);
    } catch (err) {
      const known = err instanceof StepFunctionsError || err instanceof EventBridgeError;
      const invalid = err instanceof z.ZodError || err instanceof SyntaxError;
      const type = known ? err.name : invalid ? "ValidationException" : "InternalFailure";
      const message =
        err instanceof z.ZodError ? z.prettifyError(err) : err instanceof Error ? err.message : String(err);
      reply(res, known || invalid ? 400 : 500, { __type: type, message });
    }
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    "content-type": "application/x-amz-json-1.0",
    "content-length": Buffer.byteLength(text),
  };
  if (status >= 400) headers["x-amzn-errortype"] = String((body as { __type?: string }).__type);
  res.writeHead(status, headers).end(text);
}

function proxy(req: IncomingMessage, res: ServerResponse, endpoint: string): void {
  const upstream = new URL(endpoint);
  const forwarded = request(
    { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  forwarded.on("error", (err) => reply(res, 502, { __type: "ServiceUnavailable", message: err.message }));
  req.pipe(forwarded);
}
