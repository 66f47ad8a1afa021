// The template's HTTP API on a loopback port, answering as API Gateway does: a body over 10 MB is 413; CORS
// preflights are answered from CorsConfiguration before any route or authorizer; a request no route takes is 404;
// each route has a token bucket from DefaultRouteSettings (429 when empty); the route's JWT authorizer runs before
// its integration (Lambda proxy, payload 2.0, or EventBridge-PutEvents); every answer carries apigw-requestid and,
// for an allowed Origin, the CORS headers; and each request writes one access log line in AccessLogSettings' Format.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html
// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html
// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html
// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-logging.html
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join } from "node:path";
import type { LocalEventBus } from "../events/bus";
import { BodyTooLarge, readBody } from "../gateway";
import { type FunctionHost, LambdaFunctionError } from "../lambda/host";
import { closeNow, listenOnLoopback } from "../servers";
import { JwtAuthorizer } from "./authorizer";
import type { ApiRoute, CorsConfiguration, HttpApiDefinition } from "./definition";
import { type JwtContext, proxyAnswer, proxyEvent } from "./lambda-proxy";
import { type HttpAnswer, type Lookup, mapResponse, mapValue } from "./mapping";
import { putEventsAnswer } from "./put-events";
import { type ApiRequest, apiRequest, requestLookup, requestTime } from "./request";
import { selectRoute } from "./routes";

/** HTTP APIs' payload size quota. */
export const HTTP_API_PAYLOAD_MAX_BYTES = 10 * 1024 * 1024;

const MESSAGES: Readonly<Record<number, string>> = {
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  413: "Request Entity Too Large",
  429: "Too Many Requests",
  500: "Internal Server Error",
};

const gatewayAnswers = new WeakSet<HttpAnswer>();

/** API Gateway's own answers: `{"message": ...}`. */
function gatewayAnswer(status: number, headers: Record<string, string> = {}): HttpAnswer {
  const answer = {
    status,
    headers: { "content-type": "application/json", ...headers },
    body: Buffer.from(JSON.stringify({ message: MESSAGES[status] })),
  };
  gatewayAnswers.add(answer);
  return answer;
}

/** Route throttling: `burst` requests at once, refilled at `rate` a second. */
class TokenBucket {
  private tokens: number;
  private last = Date.now();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

function originAllowed(cors: CorsConfiguration, origin: string): boolean {
  return cors.allowOrigins.some((allowed) => {
    const a = allowed.toLowerCase();
    const o = origin.toLowerCase();
    return a === "*" || a === o || (a.endsWith("://*") && o.startsWith(a.slice(0, -1)));
  });
}

/** The preflight answer's headers: none for an origin the configuration does not allow. */
function preflightHeaders(cors: CorsConfiguration, origin: string): Record<string, string> {
  if (!originAllowed(cors, origin)) return {};
  return {
    "access-control-allow-origin": cors.allowOrigins.includes("*") ? "*" : origin,
    ...(cors.allowMethods.length > 0 && { "access-control-allow-methods": cors.allowMethods.join(",") }),
    ...(cors.allowHeaders.length > 0 && { "access-control-allow-headers": cors.allowHeaders.join(",") }),
    ...(cors.maxAge !== undefined && { "access-control-max-age": String(cors.maxAge) }),
    ...(cors.allowCredentials && { "access-control-allow-credentials": "true" }),
  };
}

export interface HttpApiBackends {
  readonly functions: Pick<FunctionHost, "invoke">;
  readonly bus: Pick<LocalEventBus, "putEvents">;
}

export interface LocalHttpApiOptions {
  readonly accountId: string;
  /** The access log goes to <logDir>/<ApiLogicalId>-access.log; none without one. */
  readonly logDir?: string;
}

export class LocalHttpApi {
  private readonly server: Server;
  private readonly authorizers: Map<string, JwtAuthorizer>;
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly accessLog: WriteStream | undefined;

  constructor(
    readonly definition: HttpApiDefinition,
    private readonly backends: HttpApiBackends,
    private readonly options: LocalHttpApiOptions,
  ) {
    this.authorizers = new Map(definition.authorizers.map((a) => [a.name, new JwtAuthorizer(a)]));
    if (options.logDir && definition.accessLogFormat !== undefined) {
      mkdirSync(options.logDir, { recursive: true });
      this.accessLog = createWriteStream(join(options.logDir, `${definition.logicalId}-access.log`), { flags: "a" });
    }
    this.server = createServer((req, res) => void this.handle(req, res).catch(() => res.destroy()));
    this.server.keepAliveTimeout = 65_000;
  }

  /** The API's base URL. */
  async listen(port = 0): Promise<string> {
    return `http://127.0.0.1:${await listenOnLoopback(this.server, port)}`;
  }

  async close(): Promise<void> {
    await closeNow(this.server);
    await new Promise((resolve) => (this.accessLog ? this.accessLog.end(resolve) : resolve(undefined)));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: Buffer | undefined;
    try {
      body = await readBody(req, HTTP_API_PAYLOAD_MAX_BYTES);
    } catch (err) {
      if (!(err instanceof BodyTooLarge)) throw err;
    }
    const request = apiRequest(req, body ?? Buffer.alloc(0));
    const context = this.requestContext(request);
    // Too large: read to the end already, so the client gets the answer; the connection then closes.
    if (!body) return this.send(res, request, context, gatewayAnswer(413, { connection: "close" }));
    const { cors } = this.definition;
    const origin = request.headers.origin;
    if (cors && request.method === "OPTIONS" && origin && request.headers["access-control-request-method"]) {
      const preflight = { status: 204, headers: preflightHeaders(cors, origin), body: Buffer.alloc(0) };
      return this.send(res, request, context, preflight, false);
    }
    let answer: HttpAnswer;
    try {
      answer = await this.answer(request, context);
    } catch (err) {
      context.set("integration.error", err instanceof Error ? err.message : String(err));
      answer = gatewayAnswer(500);
    }
    this.send(res, request, context, answer);
  }

  /** $context as far as the request alone tells it; the route, authorizer, integration and status come later. */
  private requestContext(request: ApiRequest): Map<string, string> {
    return new Map(
      Object.entries({
        requestId: request.requestId,
        extendedRequestId: request.requestId,
        apiId: this.definition.apiId,
        accountId: this.options.accountId,
        domainName: request.domainName,
        domainPrefix: request.domainName.split(".")[0] ?? "",
        httpMethod: request.method,
        path: request.rawPath,
        protocol: request.protocol,
        requestTime: requestTime(request.time),
        requestTimeEpoch: String(request.time.getTime()),
        stage: "$default",
        "identity.sourceIp": request.sourceIp,
        "identity.userAgent": request.headers["user-agent"] ?? "",
      }),
    );
  }

  private async answer(request: ApiRequest, context: Map<string, string>): Promise<HttpAnswer> {
    const { definition } = this;
    const match = selectRoute(definition.routes, request.method, request.rawPath);
    if (!match) return gatewayAnswer(404);
    const { route, pathParameters } = match;
    context.set("routeKey", route.routeKey);

    if (definition.throttling) {
      const { rate, burst } = definition.throttling;
      const bucket = this.buckets.get(route.routeKey) ?? new TokenBucket(rate, burst);
      this.buckets.set(route.routeKey, bucket);
      if (!bucket.take()) return gatewayAnswer(429);
    }

    let jwt: JwtContext | undefined;
    const authorizer = route.authorizer === undefined ? undefined : this.authorizers.get(route.authorizer);
    if (authorizer) {
      const authorization = await authorizer.authorize(request.headers, route.scopes);
      if (!authorization.ok) {
        context.set("authorizer.error", authorization.error);
        return gatewayAnswer(authorization.status, { "www-authenticate": authorization.challenge });
      }
      jwt = authorization;
      for (const [name, value] of Object.entries(authorization.claims)) context.set(`authorizer.claims.${name}`, value);
    }

    const started = Date.now();
    try {
      return await this.integrate(route, request, pathParameters, jwt, context);
    } finally {
      context.set("integrationLatency", String(Date.now() - started));
      context.set("integration.latency", String(Date.now() - started));
    }
  }

  private async integrate(
    route: ApiRoute,
    request: ApiRequest,
    pathParameters: Readonly<Record<string, string>>,
    jwt: JwtContext | undefined,
    context: Map<string, string>,
  ): Promise<HttpAnswer> {
    const { integration } = route;
    const contextLookup: Lookup = (name) => context.get(name);
    if (integration.kind === "putEvents") {
      const answer = putEventsAnswer(
        integration.requestParameters,
        this.backends.bus,
        requestLookup(request, pathParameters),
        contextLookup,
      );
      context.set("integration.status", String(answer.status));
      return mapResponse(answer, integration.responseParameters, contextLookup);
    }
    const event = proxyEvent({
      request,
      routeKey: route.routeKey,
      pathParameters,
      ...(jwt && { jwt }),
      apiId: this.definition.apiId,
      accountId: this.options.accountId,
    });
    let result: unknown;
    try {
      result = await this.backends.functions.invoke(integration.functionId, event);
    } catch (err) {
      if (!(err instanceof LambdaFunctionError)) throw err;
      context.set("integration.error", `${err.errorType}: ${err.errorMessage}`);
      return gatewayAnswer(500);
    }
    context.set("integration.status", "200");
    const answer = proxyAnswer(result);
    if (!answer) {
      context.set("integration.error", "the function's response is malformed");
      return gatewayAnswer(500);
    }
    context.set("integrationStatus", String(answer.status));
    return answer;
  }

  /** API Gateway ignores an integration's CORS headers when the API configures CORS, and adds its own. */
  private corsHeaders(headers: HttpAnswer["headers"], origin: string | undefined): HttpAnswer["headers"] {
    const { cors } = this.definition;
    if (!cors) return headers;
    const kept = Object.fromEntries(Object.entries(headers).filter(([name]) => !name.startsWith("access-control-")));
    if (!origin || !originAllowed(cors, origin)) return kept;
    return {
      ...kept,
      "access-control-allow-origin": cors.allowOrigins.includes("*") ? "*" : origin,
      ...(cors.exposeHeaders.length > 0 && { "access-control-expose-headers": cors.exposeHeaders.join(",") }),
      ...(cors.allowCredentials && { "access-control-allow-credentials": "true" }),
    };
  }

  private send(
    res: ServerResponse,
    request: ApiRequest,
    context: Map<string, string>,
    answer: HttpAnswer,
    cors = true,
  ): void {
    const headers = cors ? this.corsHeaders(answer.headers, request.headers.origin) : answer.headers;
    if (gatewayAnswers.has(answer)) context.set("error.message", MESSAGES[answer.status] ?? "");
    res.writeHead(answer.status, {
      ...headers,
      "content-length": answer.body.length,
      "apigw-requestid": request.requestId,
    });
    res.end(answer.body);
    context.set("status", String(answer.status));
    context.set("responseLength", String(answer.body.length));
    context.set("responseLatency", String(Date.now() - request.time.getTime()));
    const format = this.definition.accessLogFormat;
    if (this.accessLog && format !== undefined)
      this.accessLog.write(
        `${mapValue(format, (name) => (name.startsWith("context.") ? context.get(name.slice(8)) : undefined), "-")}\n`,
      );
  }
}
