// The template's HTTP API (AWS::Serverless::HttpApi) as the local stack serves it: one route table from the paths
// of its DefinitionBody and the HttpApi events of the functions that name it (ApiId), each route with its
// integration and authorizer as SAM gives them (DefaultAuthorizer unless the route names another, or NONE); its JWT
// authorizers, CorsConfiguration, DefaultRouteSettings throttling and access log format. Each part is resolved on
// its own: the rest (an integration's IAM role, the log group) means nothing locally.
import { z } from "zod";
import type { CfnTemplate, TemplateResolver } from "../template";
import type { JwtAuthorizerConfig } from "./authorizer";
import { ResponseParameters } from "./mapping";
import { type PutEventsIntegration, PutEventsParameters } from "./put-events";
import { DEFAULT_ROUTE, type RouteTemplate, routeTemplate } from "./routes";

export interface LambdaIntegration {
  readonly kind: "lambda";
  /** The function's logical id or ARN, as the function host finds it. */
  readonly functionId: string;
}

export type Integration = LambdaIntegration | PutEventsIntegration;

export interface ApiRoute extends RouteTemplate {
  readonly integration: Integration;
  /** The authorizer's name; none for an open route. */
  readonly authorizer?: string;
  /** The token must hold one of these, when there are any. */
  readonly scopes: readonly string[];
}

export interface CorsConfiguration {
  readonly allowOrigins: readonly string[];
  readonly allowMethods: readonly string[];
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  readonly maxAge?: number;
  readonly allowCredentials: boolean;
}

export interface HttpApiDefinition {
  readonly logicalId: string;
  /** The API's Ref. */
  readonly apiId: string;
  readonly routes: readonly ApiRoute[];
  readonly authorizers: readonly JwtAuthorizerConfig[];
  readonly cors?: CorsConfiguration;
  /** Each route's token bucket: `rate` requests a second, `burst` at once. */
  readonly throttling?: { readonly rate: number; readonly burst: number };
  readonly accessLogFormat?: string;
}

const HTTP_API = "AWS::Serverless::HttpApi";
const METHODS: Readonly<Record<string, string>> = {
  get: "GET",
  put: "PUT",
  post: "POST",
  delete: "DELETE",
  patch: "PATCH",
  head: "HEAD",
  options: "OPTIONS",
  "x-amazon-apigateway-any-method": "ANY",
};

/** Unresolved: only the parts read below are resolved, one by one. */
const RawApi = z
  .object({
    DefinitionBody: z
      .object({ paths: z.record(z.string(), z.record(z.string(), z.unknown())).default({}) })
      .loose()
      .optional(),
    DefinitionUri: z.unknown().optional(),
    Auth: z
      .object({
        DefaultAuthorizer: z.string().optional(),
        Authorizers: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
      })
      .optional(),
    AccessLogSettings: z.object({ Format: z.unknown() }).loose().optional(),
  })
  .loose();
const ApiSettings = z.object({
  CorsConfiguration: z
    .object({
      AllowOrigins: z.array(z.string()).default([]),
      AllowMethods: z.array(z.string()).default([]),
      AllowHeaders: z.array(z.string()).default([]),
      ExposeHeaders: z.array(z.string()).default([]),
      MaxAge: z.coerce.number().int().optional(),
      AllowCredentials: z.boolean().default(false),
    })
    .optional(),
  DefaultRouteSettings: z
    .object({
      ThrottlingRateLimit: z.coerce.number().nonnegative().optional(),
      ThrottlingBurstLimit: z.coerce.number().int().nonnegative().optional(),
    })
    .optional(),
});
const Authorizer = z.object({
  IdentitySource: z.string().default("$request.header.Authorization"),
  JwtConfiguration: z.object({ issuer: z.string(), audience: z.array(z.string()).min(1) }).optional(),
  AuthorizationScopes: z.array(z.string()).default([]),
});
const Operation = z.object({
  "x-amazon-apigateway-integration": z.record(z.string(), z.unknown()),
  security: z.array(z.record(z.string(), z.array(z.string()))).optional(),
});
const OpenApiIntegration = z.object({
  type: z.string(),
  integrationSubtype: z.string().optional(),
  uri: z.string().optional(),
  payloadFormatVersion: z.string().default("1.0"),
  requestParameters: z.record(z.string(), z.unknown()).default({}),
  responseParameters: ResponseParameters.default({}),
});
const HttpApiEvent = z.object({
  Type: z.literal("HttpApi"),
  Properties: z.record(z.string(), z.unknown()).default({}),
});
const EventProperties = z.object({
  Method: z.string().default("ANY"),
  Path: z.string().optional(),
  PayloadFormatVersion: z.string().default("2.0"),
  Auth: z.object({ Authorizer: z.string().optional(), AuthorizationScopes: z.array(z.string()).optional() }).optional(),
});

/** The template's one HttpApi; the local stack serves exactly one. */
function httpApiOf(template: CfnTemplate): [string, Record<string, unknown>] {
  const apis = Object.entries(template.Resources).filter(([, r]) => r.Type === HTTP_API);
  const [api] = apis;
  if (!api || apis.length > 1)
    throw new Error(`the local stack serves one ${HTTP_API}; the template has ${apis.length}`);
  return [api[0], api[1].Properties];
}

/**
 * The template parameters the API's JWT authorizers take their issuer from: the local stack sets them to its own
 * issuer. An issuer written into the template would send the authorizer to the real identity provider.
 */
export function jwtIssuerParameters(template: CfnTemplate): string[] {
  const [logicalId, properties] = httpApiOf(template);
  return Object.entries(RawApi.parse(properties).Auth?.Authorizers ?? {}).flatMap(([name, authorizer]) => {
    const configuration = z.object({ issuer: z.unknown() }).optional().parse(authorizer.JwtConfiguration);
    if (!configuration) return [];
    const ref = z.object({ Ref: z.string() }).safeParse(configuration.issuer);
    if (!ref.success || !(ref.data.Ref in template.Parameters))
      throw new Error(`${logicalId} authorizer ${name}: locally the JWT issuer must be a template parameter (!Ref)`);
    return [ref.data.Ref];
  });
}

function lambdaIntegration(functionId: string, payloadFormatVersion: string, routeKey: string): LambdaIntegration {
  if (payloadFormatVersion !== "2.0")
    throw new Error(`route ${routeKey}: payload format ${payloadFormatVersion} is not served locally, only 2.0`);
  return { kind: "lambda", functionId };
}

function openApiIntegration(resolver: TemplateResolver, raw: Record<string, unknown>, routeKey: string): Integration {
  const integration = resolver.properties(OpenApiIntegration, raw);
  if (integration.type === "aws_proxy" && integration.integrationSubtype === "EventBridge-PutEvents")
    return {
      kind: "putEvents",
      requestParameters: PutEventsParameters.parse(integration.requestParameters),
      responseParameters: integration.responseParameters,
    };
  const functionArn = /\/functions\/(.+)\/invocations$/.exec(integration.uri ?? "")?.[1];
  if (integration.type === "aws_proxy" && !integration.integrationSubtype && functionArn)
    return lambdaIntegration(functionArn, integration.payloadFormatVersion, routeKey);
  throw new Error(
    `route ${routeKey}: integration ${integration.type} ${integration.integrationSubtype ?? ""} is not served locally`,
  );
}

export function httpApiDefinition(resolver: TemplateResolver): HttpApiDefinition {
  const [logicalId, properties] = httpApiOf(resolver.template);
  const raw = RawApi.parse(properties);
  if (raw.DefinitionUri !== undefined) throw new Error(`${logicalId}: DefinitionUri is not served locally`);
  const settings = resolver.properties(ApiSettings, properties);

  const authorizers = new Map(
    Object.entries(raw.Auth?.Authorizers ?? {}).map(([name, rawAuthorizer]) => {
      const authorizer = resolver.properties(Authorizer, rawAuthorizer);
      const header = /^\$request\.header\.(.+)$/.exec(authorizer.IdentitySource)?.[1];
      if (!authorizer.JwtConfiguration || !header)
        throw new Error(`${logicalId} authorizer ${name}: only JWT authorizers reading a header are served locally`);
      const config: JwtAuthorizerConfig = {
        name,
        header: header.toLowerCase(),
        issuer: authorizer.JwtConfiguration.issuer,
        audience: authorizer.JwtConfiguration.audience,
      };
      return [name, { config, scopes: authorizer.AuthorizationScopes }] as const;
    }),
  );
  /** A route's authorizer and scopes: the one it names (NONE: none), else the API's default. */
  const auth = (named: string | undefined, scopes: readonly string[] | undefined) => {
    const name = named ?? raw.Auth?.DefaultAuthorizer;
    if (name === undefined || name === "NONE") return { scopes: [] };
    const authorizer = authorizers.get(name);
    if (!authorizer) throw new Error(`${logicalId} has no authorizer ${name}`);
    return { authorizer: name, scopes: scopes ?? authorizer.scopes };
  };

  const routes: ApiRoute[] = [];
  const add = (
    routeKey: string,
    integration: Integration,
    access: { authorizer?: string; scopes: readonly string[] },
  ) => {
    if (routes.some((r) => r.routeKey === routeKey))
      throw new Error(`${logicalId}: route ${routeKey} is declared twice`);
    routes.push({ ...routeTemplate(routeKey), integration, ...access });
  };
  for (const [path, item] of Object.entries(raw.DefinitionBody?.paths ?? {})) {
    for (const [key, rawOperation] of Object.entries(item)) {
      const method = METHODS[key];
      if (!method) continue;
      const operation = Operation.parse(rawOperation);
      const routeKey = path === DEFAULT_ROUTE ? DEFAULT_ROUTE : `${method} ${path}`;
      const [security] = operation.security ?? [];
      const [named, scopes] = Object.entries(security ?? {})[0] ?? [];
      add(
        routeKey,
        openApiIntegration(resolver, operation["x-amazon-apigateway-integration"], routeKey),
        operation.security && !named ? { scopes: [] } : auth(named, scopes),
      );
    }
  }
  for (const [functionId, fn] of resolver.resourcesOfType("AWS::Serverless::Function")) {
    const events = z.record(z.string(), z.unknown()).default({}).parse(fn.Properties.Events);
    for (const rawEvent of Object.values(events)) {
      const event = HttpApiEvent.safeParse(rawEvent);
      if (!event.success || !z.object({ Ref: z.literal(logicalId) }).safeParse(event.data.Properties.ApiId).success)
        continue;
      const { Method, Path, PayloadFormatVersion, Auth } = resolver.properties(EventProperties, event.data.Properties);
      const routeKey = Path === undefined || Path === DEFAULT_ROUTE ? DEFAULT_ROUTE : `${Method.toUpperCase()} ${Path}`;
      add(
        routeKey,
        lambdaIntegration(functionId, PayloadFormatVersion, routeKey),
        auth(Auth?.Authorizer, Auth?.AuthorizationScopes),
      );
    }
  }

  const cors = settings.CorsConfiguration;
  const throttle = settings.DefaultRouteSettings;
  const format = raw.AccessLogSettings?.Format;
  return {
    logicalId,
    apiId: resolver.resolveString({ Ref: logicalId }),
    routes,
    authorizers: [...authorizers.values()].map((a) => a.config),
    ...(cors && {
      cors: {
        allowOrigins: cors.AllowOrigins,
        allowMethods: cors.AllowMethods,
        allowHeaders: cors.AllowHeaders,
        exposeHeaders: cors.ExposeHeaders,
        ...(cors.MaxAge !== undefined && { maxAge: cors.MaxAge }),
        allowCredentials: cors.AllowCredentials,
      },
    }),
    ...(throttle?.ThrottlingRateLimit !== undefined &&
      throttle.ThrottlingBurstLimit !== undefined && {
        throttling: { rate: throttle.ThrottlingRateLimit, burst: throttle.ThrottlingBurstLimit },
      }),
    ...(format !== undefined && { accessLogFormat: resolver.resolveString(format) }),
  };
}
