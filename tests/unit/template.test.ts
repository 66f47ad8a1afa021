// template.yaml's invariants: what sam build needs, least privilege, dead-letter and alarm coverage,
// encryption at rest, and SSM defaults that the code's own schemas accept.
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { z } from "zod";
import { AlertThresholdsSchema, DEFAULT_THRESHOLDS } from "../../layers/common/src/alerts";
import { API_SOURCE } from "../../layers/common/src/contracts";
import {
  FeeScheduleSchema,
  SAMPLE_FEE_SCHEDULE,
  SAMPLE_TRADING_SESSIONS,
  TradingSessionsSchema,
} from "../../layers/common/src/enrichment";
import { InstrumentListSchema, SAMPLE_INSTRUMENTS } from "../../layers/common/src/instruments";
import { type CfnResource, loadTemplate, TEMPLATE_PATH, TemplateResolver, templateFile } from "../../local/template";

const template = loadTemplate();
const text = readFileSync(TEMPLATE_PATH, "utf8");
const resources = Object.entries(template.Resources);
const ofType = (type: string) => resources.filter(([, r]) => r.Type === type);
const functions = ofType("AWS::Serverless::Function");
const imageFunctions = functions.filter(([, r]) => r.Properties.PackageType === "Image");
const zipFunctions = functions.filter(([, r]) => r.Properties.PackageType !== "Image");

/** Template defaults resolved the way CloudFormation would, for values that need only parameters. */
const defaults = new TemplateResolver(template, { region: "us-east-1" });

/** The logical ids a value refers to through Ref, Fn::GetAtt or ${...} in Fn::Sub. */
function referencedIds(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(referencedIds);
  if (typeof value !== "object" || value === null) return [];
  const record = value as Record<string, unknown>;
  if (typeof record.Ref === "string") return [record.Ref];
  const getAtt = record["Fn::GetAtt"];
  if (Array.isArray(getAtt)) return [String(getAtt[0])];
  const sub = record["Fn::Sub"];
  if (typeof sub === "string") return [...sub.matchAll(/\$\{([A-Za-z0-9]+)[.}]/g)].map((m) => String(m[1]));
  return Object.values(record).flatMap(referencedIds);
}

describe("state machine", () => {
  const [[, machine] = []] = ofType("AWS::Serverless::StateMachine");
  const props = z
    .object({
      DefinitionUri: z.string(),
      DefinitionSubstitutions: z.record(z.string(), z.unknown()),
      Type: z.unknown(),
      Logging: z.object({
        IncludeExecutionData: z.literal(true),
        Destinations: z.array(z.object({ CloudWatchLogsLogGroup: z.object({ LogGroupArn: z.unknown() }) })),
      }),
      Tracing: z.object({ Enabled: z.literal(true) }),
      Events: z.record(z.string(), z.object({ Type: z.string(), Properties: z.record(z.string(), z.unknown()) })),
    })
    .parse(machine?.Properties);

  test("every variable in the ASL has a DefinitionSubstitutions entry, and the other way round", () => {
    const asl = readFileSync(templateFile(props.DefinitionUri), "utf8");
    const used = new Set([...asl.matchAll(/\$\{([^}]+)\}/g)].map((m) => m[1]));
    expect(used).toEqual(new Set(Object.keys(props.DefinitionSubstitutions)));
  });

  test("type comes from WorkflowType (EXPRESS by default) and logs go to a /aws/vendedlogs/ group", () => {
    expect(props.Type).toEqual({ Ref: "WorkflowType" });
    expect(template.Parameters.WorkflowType).toMatchObject({
      Default: "EXPRESS",
      AllowedValues: ["EXPRESS", "STANDARD"],
    });
    const [logGroupId] = referencedIds(props.Logging.Destinations[0]?.CloudWatchLogsLogGroup.LogGroupArn);
    const logGroup = template.Resources[String(logGroupId)];
    expect(defaults.resolveString(logGroup?.Properties.LogGroupName)).toMatch(/^\/aws\/vendedlogs\/states\//);
  });

  test("the rules take order and venue trade events from the custom bus, never the recorder's domain events", () => {
    const rules = Object.values(props.Events);
    expect(rules.every((r) => r.Type === "EventBridgeRule")).toBe(true);
    const patterns = rules.map((r) =>
      z
        .object({ source: z.array(z.string()) })
        .loose()
        .parse(r.Properties.Pattern),
    );
    const sources = patterns.flatMap((p) => p.source).sort();
    expect(sources).toEqual([
      "tradeflow.api",
      "tradeflow.orders",
      "tradeflow.venue.alpha",
      "tradeflow.venue.beta",
      "tradeflow.venue.gamma",
    ]);
    expect(sources).not.toContain("tradeflow.compliance");
    for (const rule of rules) {
      expect(referencedIds(rule.Properties.EventBusName)).toEqual(["TradeBus"]);
      expect(rule.Properties.RetryPolicy).toMatchObject({ MaximumRetryAttempts: expect.any(Number) });
      expect(referencedIds(rule.Properties.DeadLetterConfig)).toEqual(["EventRuleDeadLetterQueue"]);
    }
  });
});

describe("functions", () => {
  test("Globals: arm64, active tracing, the Powertools and config environment", () => {
    const globals = template.Globals.Function;
    expect(globals.Architectures).toEqual(["arm64"]);
    expect(globals.Tracing).toBe("Active");
    const variables = z
      .object({ Environment: z.object({ Variables: z.record(z.string(), z.unknown()) }) })
      .parse(globals).Environment.Variables;
    expect(Object.keys(variables).sort()).toEqual([
      "CONFIG_PATH",
      "POWERTOOLS_LOG_LEVEL",
      "POWERTOOLS_METRICS_NAMESPACE",
      "POWERTOOLS_SERVICE_NAME",
    ]);
  });

  test("each function gets the agreed environment variables", () => {
    const names = (resource: CfnResource | undefined) =>
      Object.keys(
        z
          .object({ Environment: z.object({ Variables: z.record(z.string(), z.unknown()) }).optional() })
          .parse(resource?.Properties).Environment?.Variables ?? {},
      ).sort();
    const redis = ["REDIS_AUTH_SECRET_ARN", "REDIS_CLUSTER", "REDIS_URL"];
    // The validator reads only configuration (SSM, through the globals' CONFIG_PATH): no table, no Redis.
    expect(names(template.Resources.ValidatorFunction)).toEqual([]);
    expect(names(template.Resources.EnricherFunction)).toEqual(redis);
    expect(names(template.Resources.MatcherFunction)).toEqual(["IDEMPOTENCY_TTL_SECONDS", ...redis]);
    expect(names(template.Resources.RecorderFunction)).toEqual([
      "ALERT_QUEUE_URL",
      "COMPLIANCE_TABLE",
      "EVENT_BUS_NAME",
    ]);
    expect(names(template.Resources.AlerterFunction)).toEqual(["ALERTS_TABLE", "ALERT_TOPIC_ARN"]);
    expect(names(template.Resources.QueryFunction)).toEqual(["COMPLIANCE_TABLE", ...redis]);
  });

  test("five image functions; the three that reach Redis run in the VPC, through the function security group", () => {
    expect(imageFunctions.map(([id]) => id).sort()).toEqual([
      "EnricherFunction",
      "MatcherFunction",
      "QueryFunction",
      "RecorderFunction",
      "ValidatorFunction",
    ]);
    const inVpc = functions.filter(([, r]) => r.Properties.VpcConfig !== undefined);
    expect(inVpc.map(([id]) => id).sort()).toEqual(["EnricherFunction", "MatcherFunction", "QueryFunction"]);
    for (const [, r] of inVpc) expect(referencedIds(r.Properties.VpcConfig)).toContain("FunctionSecurityGroup");
  });

  test.each(imageFunctions.map(([id, r]) => [id, r] as const))(
    "%s: sam build finds the shared Dockerfile, whose FUNCTION build argument bundles that function's handler onto the Lambda Node.js 22 image",
    (id, resource) => {
      const metadata = z
        .object({
          Dockerfile: z.literal("functions/Dockerfile"),
          DockerContext: z.string(),
          DockerTag: z.string(),
          DockerBuildArgs: z.object({ FUNCTION: z.string() }),
        })
        .parse(resource.Metadata);
      const name = metadata.DockerBuildArgs.FUNCTION;
      expect(`${name.charAt(0).toUpperCase()}${name.slice(1)}Function`).toBe(id);
      const dockerfile = readFileSync(templateFile(join(metadata.DockerContext, metadata.Dockerfile)), "utf8");
      expect(dockerfile.match(/\nARG FUNCTION\n/g)).toHaveLength(2);
      const argument = "$" + "{FUNCTION}"; // the Dockerfile's build argument, not a JavaScript placeholder
      expect(dockerfile).toContain(`RUN npm run build -- ${argument}\n`);
      expect(dockerfile).toMatch(/\nFROM public\.ecr\.aws\/lambda\/nodejs:22\n/);
      const taskRoot = "$" + "{LAMBDA_TASK_ROOT}";
      expect(dockerfile).toContain(`COPY --from=build /src/build/${argument}/ ${taskRoot}/`);
      expect(dockerfile.trimEnd().endsWith('CMD ["index.handler"]')).toBe(true);
      const entry = templateFile(join(metadata.DockerContext, "functions", name, "index.ts"));
      expect(existsSync(entry)).toBe(true);
      expect(readFileSync(entry, "utf8")).toMatch(/export (const|async function|function) handler\b/);
      expect(resource.Properties.Layers).toBeUndefined();
    },
  );

  test.each(zipFunctions.map(([id, r]) => [id, r] as const))(
    "%s: sam build runs its Makefile, which bundles its entry point with scripts/build.ts, and its layer builds from layers/",
    (id, resource) => {
      expect(resource.Metadata).toMatchObject({ BuildMethod: "makefile" });
      const codeUri = String(resource.Properties.CodeUri);
      const source = readFileSync(templateFile(join(codeUri, "index.ts")), "utf8");
      expect(source).toMatch(/export (const|async function|function) handler\b/);
      const makefile = readFileSync(templateFile(join(codeUri, "Makefile")), "utf8");
      expect(makefile).toMatch(new RegExp(`^build-${id}:`, "m"));
      expect(makefile).toContain(`scripts/build.ts --zip ${basename(codeUri)} "$(ARTIFACTS_DIR)"`);
      const layers = referencedIds(resource.Properties.Layers);
      expect(layers.length).toBeGreaterThan(0);
      for (const layerId of layers) {
        const layer = template.Resources[layerId];
        expect(layer?.Type).toBe("AWS::Serverless::LayerVersion");
        expect(layer?.Metadata).toMatchObject({ BuildMethod: "makefile" });
        const makefile = readFileSync(templateFile(join(String(layer?.Properties.ContentUri), "Makefile")), "utf8");
        expect(makefile).toMatch(new RegExp(`^build-${layerId}:`, "m"));
      }
      expect(id).toBe("AlerterFunction");
    },
  );

  test("every function has a log group with retention", () => {
    const logGroups = ofType("AWS::Logs::LogGroup").map(([, r]) => r.Properties);
    for (const [id] of functions) {
      const group = logGroups.find(
        (p) => JSON.stringify(p.LogGroupName) === JSON.stringify({ "Fn::Sub": `/aws/lambda/\${${id}}` }),
      );
      expect(group?.RetentionInDays).toBeDefined();
    }
  });
});

describe("least privilege", () => {
  const StatementSchema = z
    .object({
      Effect: z.string(),
      Action: z.union([z.string(), z.array(z.string())]),
      Resource: z.unknown(),
    })
    .loose();

  function statements(value: unknown): z.infer<typeof StatementSchema>[] {
    if (Array.isArray(value)) return value.flatMap(statements);
    if (typeof value !== "object" || value === null) return [];
    const parsed = StatementSchema.safeParse(value);
    if (parsed.success) return [parsed.data];
    return Object.values(value).flatMap(statements);
  }

  test("functions and the state machine use SAM policy templates, plus only the log-delivery statement", () => {
    const policies = [...functions, ...ofType("AWS::Serverless::StateMachine")].flatMap(([, r]) =>
      z.array(z.record(z.string(), z.unknown())).parse(r.Properties.Policies ?? []),
    );
    const inline = policies.filter((p) => "Statement" in p);
    for (const policy of policies.filter((p) => !("Statement" in p))) {
      expect(Object.keys(policy)).toEqual([expect.stringMatching(/Policy$/)]);
    }
    const actions = statements(inline).flatMap((s) => [s.Action].flat());
    expect(new Set(actions)).toEqual(
      new Set([
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
      ]),
    );
  });

  test("no wildcard action or resource except where AWS requires one, each with a comment saying so", () => {
    const wildcard = (v: unknown) => v === "*" || (typeof v === "string" && v.endsWith(":*"));
    const all = resources.flatMap(([id, r]) => statements(r.Properties).map((s) => ({ id, type: r.Type, s })));
    for (const { type, s } of all) {
      const actions = [s.Action].flat();
      if (actions.some(wildcard)) expect(actions).toEqual(["kms:*"]);
      if (wildcard(s.Resource)) {
        const allowed =
          type === "AWS::KMS::Key" || actions.every((a) => a.startsWith("logs:") || a.startsWith("xray:"));
        expect({ actions, allowed }).toEqual({ actions, allowed: true });
      }
    }
    const wildcardLines = text.split("\n").filter((line) => /(:|-)\s*"\*"/.test(line));
    expect(wildcardLines.length).toBeGreaterThan(0);
    for (const line of wildcardLines) expect(line).toMatch(/# AWS requires/);
  });
});

describe("trading API", () => {
  const api = z
    .object({
      Auth: z.object({
        DefaultAuthorizer: z.string(),
        Authorizers: z.record(
          z.string(),
          z.object({
            IdentitySource: z.string(),
            JwtConfiguration: z.object({ issuer: z.unknown(), audience: z.array(z.unknown()) }),
          }),
        ),
      }),
      CorsConfiguration: z
        .object({
          AllowOrigins: z.array(z.unknown()),
          AllowMethods: z.array(z.string()),
          AllowHeaders: z.array(z.string()),
        })
        .loose(),
      DefaultRouteSettings: z.object({ ThrottlingRateLimit: z.unknown(), ThrottlingBurstLimit: z.unknown() }),
      AccessLogSettings: z.object({ DestinationArn: z.unknown(), Format: z.string() }),
      DefinitionBody: z.object({
        paths: z.record(
          z.string(),
          z.record(
            z.string(),
            z.object({ "x-amazon-apigateway-integration": z.record(z.string(), z.unknown()) }).loose(),
          ),
        ),
      }),
    })
    .parse(template.Resources.TradingApi?.Properties);
  const entryRoutes = Object.entries(api.DefinitionBody.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({
      key: `${method.toUpperCase()} ${path}`,
      integration: operation["x-amazon-apigateway-integration"],
    })),
  );
  const HttpApiEvent = z.object({
    Type: z.literal("HttpApi"),
    Properties: z
      .object({ ApiId: z.unknown(), Method: z.string(), Path: z.string(), PayloadFormatVersion: z.string() })
      .loose(),
  });
  const routes = functions.flatMap(([id, r]) =>
    Object.values(z.record(z.string(), z.object({ Type: z.string() }).loose()).parse(r.Properties.Events ?? {}))
      .filter((e) => e.Type === "HttpApi")
      .map((e) => ({ id, ...HttpApiEvent.parse(e).Properties })),
  );

  test("the query function serves the eight read routes on TradingApi, each GET with payload format 2.0", () => {
    expect(template.Resources.TradingApi?.Type).toBe("AWS::Serverless::HttpApi");
    expect(routes.map((r) => `${r.Method} ${r.Path}`).sort()).toEqual([
      "GET /books/{symbol}",
      "GET /candles/{symbol}",
      "GET /fills",
      "GET /instruments",
      "GET /orders",
      "GET /orders/{orderId}",
      "GET /positions",
      "GET /trades/{symbol}",
    ]);
    for (const route of routes) {
      expect(route).toMatchObject({ id: "QueryFunction", ApiId: { Ref: "TradingApi" }, PayloadFormatVersion: "2.0" });
    }
  });

  test("the JWT authorizer guards every route: the default authorizer, with issuer and audience from parameters", () => {
    const authorizer = api.Auth.Authorizers[api.Auth.DefaultAuthorizer];
    expect(authorizer).toEqual({
      IdentitySource: "$request.header.Authorization",
      JwtConfiguration: { issuer: { Ref: "ApiJwtIssuer" }, audience: [{ Ref: "ApiJwtAudience" }] },
    });
    // A route's own Auth would override the default (Authorizer: NONE opens it): none has one.
    for (const route of routes) expect(route).not.toHaveProperty("Auth");
    expect(defaults.resolveString({ Ref: "ApiJwtIssuer" })).toMatch(/^https:\/\//);
    expect(defaults.resolveString({ Ref: "ApiJwtAudience" })).not.toBe("");
  });

  test("order entry: API Gateway puts tradeflow.api events on the trade bus itself, the client id from the token", () => {
    expect(entryRoutes.map((r) => r.key).sort()).toEqual(["DELETE /orders/{orderId}", "POST /orders"]);
    for (const { key, integration } of entryRoutes) {
      expect({ key, ...integration }).toMatchObject({
        key,
        type: "aws_proxy",
        integrationSubtype: "EventBridge-PutEvents",
        credentials: { "Fn::GetAtt": ["TradingApiOrderEntryRole", "Arn"] },
        requestParameters: { EventBusName: { "Fn::GetAtt": ["TradeBus", "Arn"] }, Source: API_SOURCE },
        responseParameters: { "200": { "overwrite:statuscode": "202" } },
      });
      const detail = z.object({ Detail: z.string() }).loose().parse(integration.requestParameters).Detail;
      // The client id is the token's subject, and the last member: a JSON reader keeps the last of a duplicate.
      // biome-ignore lint/suspicious/noTemplateCurlyInString: API Gateway's mapping syntax, not a JS template
      const last = ',"clientId":"${context.authorizer.claims.sub}"}';
      expect({ key, last: detail.replace(/\s+/g, "").endsWith(last) }).toEqual({ key, last: true });
    }
    const role = template.Resources.TradingApiOrderEntryRole;
    expect(role?.Properties.AssumeRolePolicyDocument).toMatchObject({
      Statement: [{ Effect: "Allow", Principal: { Service: "apigateway.amazonaws.com" }, Action: "sts:AssumeRole" }],
    });
    expect(role?.Properties.Policies).toEqual([
      {
        PolicyName: "put-order-events",
        PolicyDocument: {
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Allow",
              Action: "events:PutEvents",
              Resource: { "Fn::GetAtt": ["TradeBus", "Arn"] },
              Condition: { StringEquals: { "events:source": API_SOURCE } },
            },
          ],
        },
      },
    ]);
  });

  test("every route is throttled from ApiThrottlingRateLimit and ApiThrottlingBurstLimit", () => {
    expect(api.DefaultRouteSettings).toEqual({
      ThrottlingRateLimit: { Ref: "ApiThrottlingRateLimit" },
      ThrottlingBurstLimit: { Ref: "ApiThrottlingBurstLimit" },
    });
    const rate = Number(defaults.resolveString(api.DefaultRouteSettings.ThrottlingRateLimit));
    const burst = Number(defaults.resolveString(api.DefaultRouteSettings.ThrottlingBurstLimit));
    expect(rate).toBeGreaterThan(0);
    expect(burst).toBeGreaterThanOrEqual(rate);
  });

  test("access logs: one JSON object per request, in a log group of their own with the stack's retention", () => {
    const [groupId] = referencedIds(api.AccessLogSettings.DestinationArn);
    const group = template.Resources[String(groupId)];
    expect(group?.Type).toBe("AWS::Logs::LogGroup");
    expect(group?.Properties.RetentionInDays).toEqual({ Ref: "LogRetentionDays" });
    const others = ofType("AWS::Logs::LogGroup").filter(([id]) => id !== groupId);
    expect(others.map(([, r]) => r.Properties.LogGroupName)).not.toContainEqual(group?.Properties.LogGroupName);
    const format = z.record(z.string(), z.string()).parse(JSON.parse(api.AccessLogSettings.Format));
    expect(format).toMatchObject({
      requestId: "$context.requestId",
      routeKey: "$context.routeKey",
      status: "$context.status",
      clientId: "$context.authorizer.claims.sub",
      authorizerError: "$context.authorizer.error",
    });
  });

  test("CORS: the origin from ApiCorsAllowOrigin, only the routes' methods, the Authorization header, no credentials", () => {
    expect(api.CorsConfiguration.AllowOrigins).toEqual([{ Ref: "ApiCorsAllowOrigin" }]);
    expect(defaults.resolveString({ Ref: "ApiCorsAllowOrigin" })).toMatch(/^https?:\/\/[^/]+$/);
    const methods = [...routes.map((r) => r.Method), ...entryRoutes.map((r) => r.key.split(" ")[0])];
    expect(api.CorsConfiguration.AllowMethods).toEqual([...new Set(methods)]);
    expect(api.CorsConfiguration.AllowHeaders.map((h) => h.toLowerCase())).toEqual(["authorization", "content-type"]);
    expect(api.CorsConfiguration.AllowCredentials ?? false).toBe(false);
  });

  test("the query function only reads: the compliance table, configuration and the Redis secret", () => {
    const policies = z
      .array(z.record(z.string(), z.unknown()))
      .parse(template.Resources.QueryFunction?.Properties.Policies);
    expect(policies.flatMap((p) => Object.keys(p)).sort()).toEqual([
      "AWSSecretsManagerGetSecretValuePolicy",
      "DynamoDBReadPolicy",
      "SSMParameterWithSlashPrefixReadPolicy",
    ]);
    expect(referencedIds(policies)).toEqual(expect.arrayContaining(["ComplianceTable", "RedisAuthSecret"]));
  });

  test("the stack outputs the API's URL", () => {
    const output = z.object({ Value: z.unknown() }).parse(template.Outputs.TradingApiUrl);
    expect(referencedIds(output.Value)).toContain("TradingApi");
  });
});

describe("resilience and alarms", () => {
  test("every queue has a dead-letter queue or is one, and dead-letter queues keep messages 14 days", () => {
    const queues = ofType("AWS::SQS::Queue");
    const eventSources = resources.flatMap(([, r]) =>
      Object.values(
        z
          .record(z.string(), z.object({ Properties: z.record(z.string(), z.unknown()) }))
          .parse(r.Properties.Events ?? {}),
      ),
    );
    const deadLetterTargets = new Set([
      ...queues.flatMap(([, r]) => referencedIds(r.Properties.RedrivePolicy)),
      ...eventSources.flatMap((e) => referencedIds(e.Properties.DeadLetterConfig)),
      // The workflow's own dead letters: the queue its SendToFailedQueue state writes to.
      ...ofType("AWS::Serverless::StateMachine").flatMap(([, r]) =>
        referencedIds(z.object({ FailedExecutionsQueueUrl: z.unknown() }).parse(r.Properties.DefinitionSubstitutions)),
      ),
    ]);
    for (const [id, queue] of queues) {
      const isDeadLetter = deadLetterTargets.has(id);
      expect({ id, covered: isDeadLetter || queue.Properties.RedrivePolicy !== undefined }).toEqual({
        id,
        covered: true,
      });
      if (isDeadLetter)
        expect({ id, retention: queue.Properties.MessageRetentionPeriod }).toEqual({ id, retention: 1209600 });
    }
  });

  test("the alert queue's visibility timeout is at least six times the alerter's timeout", () => {
    const timeout = Number(template.Resources.AlerterFunction?.Properties.Timeout);
    expect(Number(template.Resources.AlertQueue?.Properties.VisibilityTimeout)).toBeGreaterThanOrEqual(6 * timeout);
  });

  test("every alarm notifies the operations topic", () => {
    const alarms = ofType("AWS::CloudWatch::Alarm");
    expect(alarms.length).toBeGreaterThanOrEqual(8);
    for (const [id, alarm] of alarms) {
      expect({ id, actions: referencedIds(alarm.Properties.AlarmActions) }).toEqual({ id, actions: ["OpsTopic"] });
    }
  });

  test("the dashboard body is valid JSON once its substitutions resolve", () => {
    const anyResource = { ref: "x", attributes: { QueueName: "x" } };
    const resolver = new TemplateResolver(template, {
      region: "us-east-1",
      resources: Object.fromEntries(resources.map(([id]) => [id, anyResource])),
    });
    const body = resolver.resolveString(template.Resources.Dashboard?.Properties.DashboardBody);
    expect(
      z.object({ widgets: z.array(z.object({ type: z.string() }).loose()).min(1) }).safeParse(JSON.parse(body)).success,
    ).toBe(true);
  });

  test("every dead-letter and failure queue has a depth alarm", () => {
    const watched = ofType("AWS::CloudWatch::Alarm").flatMap(([, a]) => referencedIds(a.Properties.Dimensions));
    for (const id of ["AlertDeadLetterQueue", "EventRuleDeadLetterQueue", "FailedExecutionsQueue"]) {
      expect(watched).toContain(id);
    }
  });
});

describe("encryption at rest", () => {
  const expectEncrypted = (type: string, check: (p: Record<string, unknown>) => boolean) => {
    const found = ofType(type);
    expect(found.length).toBeGreaterThan(0);
    for (const [id, r] of found) expect({ id, encrypted: check(r.Properties) }).toEqual({ id, encrypted: true });
  };
  const sseEnabled = (p: Record<string, unknown>) =>
    z.object({ SSESpecification: z.object({ SSEEnabled: z.literal(true), SSEType: z.literal("KMS") }) }).safeParse(p)
      .success;

  test("tables", () => {
    expectEncrypted("AWS::DynamoDB::GlobalTable", sseEnabled);
    expectEncrypted("AWS::DynamoDB::Table", sseEnabled);
  });
  test("queues and topics", () => {
    expectEncrypted("AWS::SQS::Queue", (p) => referencedIds(p.KmsMasterKeyId).includes("EncryptionKey"));
    expectEncrypted("AWS::SNS::Topic", (p) => referencedIds(p.KmsMasterKeyId).includes("EncryptionKey"));
  });
  test("secret, cache and log groups", () => {
    expectEncrypted("AWS::SecretsManager::Secret", (p) => referencedIds(p.KmsKeyId).includes("EncryptionKey"));
    expectEncrypted(
      "AWS::ElastiCache::ReplicationGroup",
      (p) =>
        p.AtRestEncryptionEnabled === true &&
        p.TransitEncryptionEnabled === true &&
        referencedIds(p.KmsKeyId).includes("EncryptionKey"),
    );
    expectEncrypted("AWS::Logs::LogGroup", (p) => referencedIds(p.KmsKeyId).includes("EncryptionKey"));
  });
  test("the key rotates", () => {
    expect(template.Resources.EncryptionKey?.Properties.EnableKeyRotation).toBe(true);
  });
});

describe("SSM defaults", () => {
  const value = (id: string): unknown => JSON.parse(defaults.resolveString(template.Resources[id]?.Properties.Value));

  test("every parameter lives under /tradeflow/<Stage>/", () => {
    for (const [, p] of ofType("AWS::SSM::Parameter")) {
      expect(defaults.resolveString(p.Properties.Name)).toMatch(/^\/tradeflow\/dev\/[a-z-]+$/);
    }
  });
  test("instruments equal SAMPLE_INSTRUMENTS", () => {
    expect(InstrumentListSchema.parse(value("InstrumentsParameter"))).toEqual(SAMPLE_INSTRUMENTS);
  });
  test("fee-schedule and trading-sessions equal the enricher's samples and parse with its schemas", () => {
    expect(value("FeeScheduleParameter")).toEqual(SAMPLE_FEE_SCHEDULE);
    expect(FeeScheduleSchema.safeParse(value("FeeScheduleParameter")).success).toBe(true);
    expect(value("TradingSessionsParameter")).toEqual(SAMPLE_TRADING_SESSIONS);
    expect(TradingSessionsSchema.safeParse(value("TradingSessionsParameter")).success).toBe(true);
  });
  test("alert-thresholds come from AlertHighThreshold/AlertLowThreshold and parse with the alerter's schema", () => {
    expect(AlertThresholdsSchema.parse(value("AlertThresholdsParameter"))).toEqual({
      default: DEFAULT_THRESHOLDS,
      symbols: {},
    });
  });
});
