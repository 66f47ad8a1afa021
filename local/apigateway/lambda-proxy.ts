// The Lambda proxy integration of HTTP APIs, payload format 2.0: the event API Gateway builds from a request, and
// the HTTP answer it makes of the function's result (a result without statusCode is a 200 whose body is the
// result's JSON).
// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
import { z } from "zod";
import type { HttpAnswer } from "./mapping";
import { type ApiRequest, requestTime } from "./request";

/** What the JWT authorizer passes on: requestContext.authorizer.jwt. */
export interface JwtContext {
  readonly claims: Readonly<Record<string, string>>;
  readonly scopes: readonly string[] | null;
}

export interface ProxyEventSource {
  readonly request: ApiRequest;
  readonly routeKey: string;
  readonly pathParameters: Readonly<Record<string, string>>;
  /** The JWT authorizer's claims and scopes, when the route has one. */
  readonly jwt?: JwtContext;
  readonly apiId: string;
  readonly accountId: string;
}

/**
 * Bodies API Gateway passes as text; any other content type (none, form-urlencoded and octet-stream among them) is
 * base64-encoded. The documentation says only "binary"; this split is the one observed on AWS.
 */
function isText(contentType: string | undefined): boolean {
  const type = contentType?.split(";")[0]?.trim().toLowerCase() ?? "";
  return type.startsWith("text/") || ["application/json", "application/xml", "application/javascript"].includes(type);
}

const nonEmpty = <T extends object>(value: T): T | undefined => (Object.keys(value).length > 0 ? value : undefined);

/** The payload format 2.0 event of a request; absent parts (cookies, query, path parameters, body) are left out. */
export function proxyEvent(source: ProxyEventSource) {
  const { request } = source;
  const text = isText(request.headers["content-type"]);
  const { cookie: _, ...headers } = request.headers;
  return {
    version: "2.0",
    routeKey: source.routeKey,
    rawPath: request.rawPath,
    rawQueryString: request.rawQueryString,
    ...(request.cookies.length > 0 && { cookies: [...request.cookies] }),
    headers,
    ...(nonEmpty(request.query) && { queryStringParameters: { ...request.query } }),
    requestContext: {
      accountId: source.accountId,
      apiId: source.apiId,
      ...(source.jwt && { authorizer: { jwt: { claims: { ...source.jwt.claims }, scopes: source.jwt.scopes } } }),
      domainName: request.domainName,
      domainPrefix: request.domainName.split(".")[0] ?? "",
      http: {
        method: request.method,
        path: request.rawPath,
        protocol: request.protocol,
        sourceIp: request.sourceIp,
        userAgent: request.headers["user-agent"] ?? "",
      },
      requestId: request.requestId,
      routeKey: source.routeKey,
      stage: "$default",
      time: requestTime(request.time),
      timeEpoch: request.time.getTime(),
    },
    ...(request.body.length > 0 && { body: request.body.toString(text ? "utf8" : "base64") }),
    ...(nonEmpty(source.pathParameters) && { pathParameters: { ...source.pathParameters } }),
    isBase64Encoded: request.body.length > 0 && !text,
  };
}

const StructuredResult = z.object({
  statusCode: z.number().int().min(100).max(599),
  headers: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  cookies: z.array(z.string()).optional(),
  body: z.string().optional(),
  isBase64Encoded: z.boolean().optional(),
});

/** The answer to the client, or undefined for a malformed response (API Gateway's 500). */
export function proxyAnswer(result: unknown): HttpAnswer | undefined {
  const structured = typeof result === "object" && result !== null && !Array.isArray(result) && "statusCode" in result;
  if (!structured)
    return {
      status: 200,
      headers: { "content-type": "application/json" },
      body: Buffer.from(JSON.stringify(result) ?? "null"),
    };
  const parsed = StructuredResult.safeParse(result);
  if (!parsed.success) return undefined;
  const { statusCode, headers = {}, cookies = [], body = "", isBase64Encoded } = parsed.data;
  return {
    status: statusCode,
    headers: {
      ...Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), String(value)])),
      ...(cookies.length > 0 && { "set-cookie": cookies }),
    },
    body: Buffer.from(body, isBase64Encoded ? "base64" : "utf8"),
  };
}
