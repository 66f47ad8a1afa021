// One local endpoint for SDKs and the aws CLI (--endpoint-url): the Step Functions API subset and EventBridge
// PutEvents, ListRules, DescribeRule and ListTargetsByRule are served here (the local state machine and bus);
// DynamoDB calls are passed to DynamoDB Local, and the other services the stack runs on moto (SQS, SNS, SSM,
// Secrets Manager, the rest of EventBridge) to moto, byte for byte. Anything else is AWS's UnknownOperationException.
// Every request body is capped (limits.ts) without buffering more than the cap. The gateway also answers as an
// HTTP proxy (absolute request URLs), which is how the aws CLI reaches StartSyncExecution's `sync-` host.
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import { Transform } from "node:stream";
import { z } from "zod";
import { eventBridgeApi, servesEventBridge } from "./events/api";
import { EventBridgeError, type LocalEventBus } from "./events/bus";
import { API_BODY_MAX_BYTES, PASSTHROUGH_BODY_MAX_BYTES } from "./limits";
import { closeNow, listenOnLoopback } from "./servers";
import { type MessageMoveTasks, SqsError } from "./sqs/move-tasks";
import { StepFunctionsApi } from "./stepfunctions/api";
import { type LocalStateMachine, StepFunctionsError } from "./stepfunctions/workflow";

export interface GatewayBackends {
  readonly machines: readonly LocalStateMachine[];
  readonly bus: LocalEventBus;
  readonly dynamoEndpoint: string;
  readonly motoEndpoint: string;
  /** SQS's dead-letter redrive (StartMessageMoveTask...), which moto lacks. */
  readonly moveTasks?: MessageMoveTasks;
}

/** X-Amz-Target prefixes passed on, by backend; a prefix listed nowhere is an unknown operation. */
const DYNAMODB_TARGETS = ["DynamoDB_20120810.", "DynamoDBStreams_20120810."];
const MOTO_TARGETS = ["AWSEvents.", "AmazonSQS.", "AmazonSSM.", "secretsmanager."];

type Route =
  | { readonly kind: "stepFunctions" | "eventBridge" | "sqsMoveTask"; readonly operation: string }
  | { readonly kind: "proxy"; readonly endpoint: string }
  | { readonly kind: "unknown" };

function route(req: IncomingMessage, backends: GatewayBackends): Route {
  const target = String(req.headers["x-amz-target"] ?? "");
  const [service = "", operation = ""] = target.split(".");
  if (service === "AWSStepFunctions") return { kind: "stepFunctions", operation };
  if (service === "AWSEvents" && servesEventBridge(operation)) return { kind: "eventBridge", operation };
  if (backends.moveTasks?.serves(target)) return { kind: "sqsMoveTask", operation };
  if (DYNAMODB_TARGETS.some((p) => target.startsWith(p))) return { kind: "proxy", endpoint: backends.dynamoEndpoint };
  if (MOTO_TARGETS.some((p) => target.startsWith(p))) return { kind: "proxy", endpoint: backends.motoEndpoint };
  // The query protocol (SNS, and SQS from older clients) names its action in a form body or the query string.
  const form = String(req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded");
  if (!target && (form || /[?&]Action=/.test(req.url ?? ""))) return { kind: "proxy", endpoint: backends.motoEndpoint };
  return { kind: "unknown" };
}

export class BodyTooLarge extends Error {
  override readonly name = "BodyTooLarge";
}

/** The request body, or BodyTooLarge once it passes `max` bytes (the rest is read and dropped, never kept). */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] | undefined = Number(req.headers["content-length"] ?? 0) > max ? undefined : [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) chunks = undefined;
      chunks?.push(chunk);
    });
    req.on("end", () => (chunks ? resolve(Buffer.concat(chunks)) : reject(new BodyTooLarge())));
    req.on("error", reject);
  });
}

export class Gateway {
  private readonly server: Server;
  private backends: GatewayBackends | undefined;
  private readonly stepFunctions = new StepFunctionsApi(() => this.backends?.machines ?? []);

  constructor() {
    this.server = createServer((req, res) =>
      this.handle(req, res).catch((err: unknown) =>
        reply(res, 500, { __type: "InternalFailure", message: err instanceof Error ? err.message : String(err) }),
      ),
    );
    // Longer than the SDKs' idle sockets live, so a client never reuses a connection the server is closing.
    this.server.keepAliveTimeout = 65_000;
  }

  listen(port = 0): Promise<number> {
    return listenOnLoopback(this.server, port);
  }

  /** The gateway listens first (the functions need its URL); its backends arrive once they exist. */
  serve(backends: GatewayBackends): void {
    this.backends = backends;
  }

  close(): Promise<void> {
    return closeNow(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const backends = this.backends;
    if (!backends) return reply(res, 503, { __type: "ServiceUnavailable", message: "the local stack is starting" });
    // As a proxy the gateway gets absolute URLs (http://sync-127.0.0.1:port/); the backends want the path.
    if (req.url && !req.url.startsWith("/")) req.url = req.url.replace(/^[a-z]+:\/\/[^/?]*/i, "") || "/";
    const to = route(req, backends);
    if (to.kind === "proxy") return proxy(req, res, to.endpoint);
    if (to.kind === "unknown") {
      req.resume();
      return reply(res, 400, { __type: "UnknownOperationException" });
    }
    const protocol = to.kind === "eventBridge" ? "1.1" : "1.0";
    try {
      const text = (await readBody(req, API_BODY_MAX_BYTES)).toString();
      const body: unknown = JSON.parse(text || "{}");
      const result =
        to.kind === "stepFunctions"
          ? await this.stepFunctions.call(to.operation, body)
          : to.kind === "sqsMoveTask"
            ? await backends.moveTasks?.serve(to.operation, body)
            : eventBridgeApi(backends.bus, to.operation as Parameters<typeof eventBridgeApi>[1], body);
      reply(res, 200, result, protocol);
    } catch (err) {
      if (err instanceof BodyTooLarge) return tooLarge(req, res, API_BODY_MAX_BYTES);
      const known = err instanceof StepFunctionsError || err instanceof EventBridgeError || err instanceof SqsError;
      const type = known
        ? err.name
        : err instanceof z.ZodError
          ? "ValidationException"
          : err instanceof SyntaxError
            ? "SerializationException"
            : "InternalFailure";
      const message =
        err instanceof z.ZodError ? z.prettifyError(err) : err instanceof Error ? err.message : String(err);
      reply(res, type === "InternalFailure" ? 500 : 400, { __type: type, message }, protocol);
    }
  }
}

function reply(res: ServerResponse, status: number, body: unknown, protocol = "1.0"): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    "content-type": `application/x-amz-json-${protocol}`,
    "content-length": Buffer.byteLength(text),
  };
  if (status >= 400) headers["x-amzn-errortype"] = String((body as { __type?: string }).__type);
  res.writeHead(status, headers).end(text);
}

/** 413 once the client has sent the whole body (read and dropped), so that it gets to read the answer. */
function tooLarge(req: IncomingMessage, res: ServerResponse, max: number): void {
  const answer = () => {
    if (res.headersSent) return;
    res.setHeader("connection", "close");
    reply(res, 413, { __type: "RequestEntityTooLargeException", message: `Request body must be at most ${max} bytes` });
  };
  if (req.complete) answer();
  else req.on("end", answer);
  req.resume();
}

function proxy(req: IncomingMessage, res: ServerResponse, endpoint: string): void {
  if (Number(req.headers["content-length"] ?? 0) > PASSTHROUGH_BODY_MAX_BYTES) {
    tooLarge(req, res, PASSTHROUGH_BODY_MAX_BYTES);
    return;
  }
  const upstream = new URL(endpoint);
  const forwarded = request(
    { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  let cutOff = false;
  forwarded.on("error", (err) => {
    if (!cutOff) reply(res, 502, { __type: "ServiceUnavailable", message: err.message });
  });
  // A chunked body has no length up front: counted on its way through, cut off past the cap.
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      done(size > PASSTHROUGH_BODY_MAX_BYTES ? new BodyTooLarge() : null, chunk);
    },
  });
  counter.on("error", () => {
    cutOff = true;
    req.unpipe(counter);
    forwarded.destroy();
    tooLarge(req, res, PASSTHROUGH_BODY_MAX_BYTES);
  });
  req.pipe(counter).pipe(forwarded);
}
