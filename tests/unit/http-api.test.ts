// The local HTTP API's parts on their own: route selection, parameter mapping, the answer made of a function's
// result, the route table read from template.yaml, and the server on a loopback port with the local issuer and a
// recording function host, which shows the payload 2.0 event a request becomes and stands in for what the real
// function cannot be made to do on demand (fail, time out, answer malformed).
import { request as httpRequest } from "node:http";
import fc from "fast-check";
import { z } from "zod";
import type { HttpApiDefinition } from "../../local/apigateway/definition";
import { httpApiDefinition, jwtIssuerParameters } from "../../local/apigateway/definition";
import { LocalHttpApi } from "../../local/apigateway/http-api";
import { LocalIssuer } from "../../local/apigateway/issuer";
import { proxyAnswer } from "../../local/apigateway/lambda-proxy";
import { bodyValue, type Lookup, mapResponse, mapValue } from "../../local/apigateway/mapping";
import { routeTemplate, selectRoute } from "../../local/apigateway/routes";
import { LambdaFunctionError } from "../../local/lambda/host";
import { loadTemplate, TemplateResolver } from "../../local/template";

describe("route selection", () => {
  const routes = [
    "GET /pets",
    "GET /pets/dog",
    "GET /pets/{id}",
    "ANY /pets/{id}",
    "GET /pets/{proxy+}",
    "$default",
  ].map(routeTemplate);
  const select = (method: string, path: string) => {
    const match = selectRoute(routes, method, path);
    return match && [match.route.routeKey, match.pathParameters];
  };

  test("an exact path before a variable, a named method before ANY, a greedy variable last, then $default", () => {
    expect(select("GET", "/pets/dog")).toEqual(["GET /pets/dog", {}]);
    expect(select("GET", "/pets/7")).toEqual(["GET /pets/{id}", { id: "7" }]);
    expect(select("DELETE", "/pets/7")).toEqual(["ANY /pets/{id}", { id: "7" }]);
    expect(select("GET", "/pets/7/toys/1")).toEqual(["GET /pets/{proxy+}", { proxy: "7/toys/1" }]);
    expect(select("GET", "/pets/a%20b%2Fc")).toEqual(["GET /pets/{id}", { id: "a b/c" }]);
    expect(select("POST", "/pets")).toEqual(["$default", {}]);
    expect(select("GET", "/pets/")).toEqual(["$default", {}]);
  });

  test("without $default a request no route takes has none (API Gateway's 404)", () => {
    expect(selectRoute(routes.slice(0, -1), "POST", "/pets")).toBeUndefined();
    expect(selectRoute(routes.slice(0, -1), "GET", "/")).toBeUndefined();
  });

  test("a greedy variable must be last; a route key is METHOD /path", () => {
    expect(() => routeTemplate("GET /a/{rest+}/b")).toThrow(/greedy/);
    expect(() => routeTemplate("GET pets")).toThrow(/METHOD \/path/);
  });

  test("property: a literal route takes its own path; the variable route of its shape takes every other", () => {
    const segment = fc.stringMatching(/^[a-z0-9-]{1,6}$/);
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        (a, b) => {
          const literal = routeTemplate(`GET /${a.join("/")}`);
          const variables = routeTemplate(`GET /${a.map((_, i) => `{p${i}}`).join("/")}`);
          expect(selectRoute([variables, literal], "GET", `/${a.join("/")}`)?.route).toBe(literal);
          const other = selectRoute([variables, literal], "GET", `/${b.join("/")}`);
          if (b.join("/") === a.join("/")) return;
          if (b.length !== a.length) expect(other).toBeUndefined();
          else expect(other?.pathParameters).toEqual(Object.fromEntries(b.map((s, i) => [`p${i}`, s])));
        },
      ),
    );
  });
});

describe("parameter mapping", () => {
  const values: Record<string, string> = {
    "request.body": '{"symbol":"BTC-USD"}',
    "request.path.orderId": "o-1",
    "request.querystring.symbol": "BTC-USD",
    "context.authorizer.claims.sub": "acme",
    "context.requestId": "abc=",
  };
  const lookup: Lookup = (name) => values[name];

  // API Gateway's mapping syntax, written as the template writes it: these are not template literals.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: API Gateway's mapping syntax
  const braced = '{"order":${request.body},"clientId":"${context.authorizer.claims.sub}"}';
  // biome-ignore lint/suspicious/noTemplateCurlyInString: API Gateway's mapping syntax
  const spaced = "id=${ context.requestId }, $5 and ${request.querystring.none}";
  // biome-ignore lint/suspicious/noTemplateCurlyInString: API Gateway's mapping syntax
  const requestIdHeader = "${context.requestId}";

  test("the braced and bare forms among static text; a value the request lacks is empty", () => {
    expect(mapValue(braced, lookup)).toBe('{"order":{"symbol":"BTC-USD"},"clientId":"acme"}');
    expect(mapValue("$request.path.orderId/$request.querystring.symbol.", lookup)).toBe("o-1/BTC-USD.");
    expect(mapValue(spaced, lookup)).toBe("id=abc=, $5 and ");
    expect(mapValue('"$context.status"', () => undefined, "-")).toBe('"-"');
  });

  test("request.body.<JSON path>: a string as it is, anything else as JSON, nothing when the body is not JSON", () => {
    const body = Buffer.from('{"order":{"legs":[{"px":"1.5"},{"px":2,"tags":["a"]}]}}');
    expect(bodyValue(body, "body.order.legs[0].px")).toBe("1.5");
    expect(bodyValue(body, "body.order.legs[1]")).toBe('{"px":2,"tags":["a"]}');
    expect(bodyValue(body, "body.order.missing")).toBeUndefined();
    expect(bodyValue(Buffer.from("not json"), "body.order")).toBeUndefined();
    expect(bodyValue(Buffer.from("not json"), "body")).toBe("not json");
  });

  test("responseParameters of the integration's status: status code, header append, overwrite and remove", () => {
    const answer = {
      status: 200,
      headers: { "content-type": "application/json", "x-old": "1", "x-list": "a" },
      body: Buffer.from('{"Entries":[{"EventId":"e-1"}]}'),
    };
    const mapped = mapResponse(
      answer,
      {
        "200": {
          "overwrite:statuscode": "202",
          "overwrite:header.X-Event": "$response.body.Entries[0].EventId",
          "append:header.x-list": requestIdHeader,
          "remove:header.x-old": "''",
          "overwrite:header.x-type": "$response.header.Content-Type",
        },
      },
      (name) => values[`context.${name}`],
    );
    expect(mapped.status).toBe(202);
    expect(mapped.headers).toEqual({
      "content-type": "application/json",
      "x-event": "e-1",
      "x-list": ["a", "abc="],
      "x-type": "application/json",
    });
    expect(mapResponse({ ...answer, status: 400 }, { "200": { "overwrite:statuscode": "202" } }, lookup).status).toBe(
      400,
    );
  });
});

describe("a function's result as API Gateway answers it (payload 2.0)", () => {
  test("without statusCode: 200, application/json, the result's JSON", () => {
    for (const result of [{ items: [1] }, "text", 7, null, [1, 2]]) {
      const answer = proxyAnswer(result);
      expect(answer?.status).toBe(200);
      expect(answer?.headers).toEqual({ "content-type": "application/json" });
      expect(answer?.body.toString()).toBe(JSON.stringify(result));
    }
  });

  test("with statusCode: its headers, cookies as set-cookie, a base64 body decoded", () => {
    const answer = proxyAnswer({
      statusCode: 201,
      headers: { "Content-Type": "application/octet-stream", "X-N": 3 },
      cookies: ["a=1; Secure", "b=2"],
      body: Buffer.from([0, 255]).toString("base64"),
      isBase64Encoded: true,
    });
    expect(answer?.status).toBe(201);
    expect(answer?.headers).toEqual({
      "content-type": "application/octet-stream",
      "x-n": "3",
      "set-cookie": ["a=1; Secure", "b=2"],
    });
    expect([...(answer?.body ?? [])]).toEqual([0, 255]);
    expect(proxyAnswer({ statusCode: 204 })?.body.length).toBe(0);
  });

  test("a malformed response is none (API Gateway's 500)", () => {
    expect(proxyAnswer({ statusCode: "200" })).toBeUndefined();
    expect(proxyAnswer({ statusCode: 200, headers: { a: { b: 1 } } })).toBeUndefined();
    expect(proxyAnswer({ statusCode: 200, body: { not: "a string" } })).toBeUndefined();
  });
});

describe("the route table of template.yaml", () => {
  const template = loadTemplate();
  const busArn = "arn:aws:events:us-east-1:123456789012:event-bus/tradeflow-dev";
  const resolver = new TemplateResolver(template, {
    region: "us-east-1",
    accountId: "123456789012",
    parameters: { ApiJwtIssuer: "http://127.0.0.1:1" },
    resources: { TradeBus: { ref: "tradeflow-dev", attributes: { Arn: busArn } }, TradingApi: { ref: "api-1" } },
  });
  const definition = httpApiDefinition(resolver);
  const [apiId, api] = Object.entries(template.Resources).find(([, r]) => r.Type === "AWS::Serverless::HttpApi") ?? [];
  const Api = z.object({
    DefinitionBody: z.object({ paths: z.record(z.string(), z.record(z.string(), z.unknown())) }),
    Auth: z.object({ DefaultAuthorizer: z.string() }),
  });
  const { DefinitionBody, Auth } = Api.parse(api?.Properties);
  const route = (key: string) => definition.routes.find((r) => r.routeKey === key);

  /** [function, route key] of every HttpApi event naming the API. */
  const events = Object.entries(template.Resources).flatMap(([id, r]) =>
    Object.values(z.record(z.string(), z.unknown()).parse(r.Properties.Events ?? {})).flatMap((e) => {
      const event = z
        .object({
          Type: z.literal("HttpApi"),
          Properties: z.object({
            ApiId: z.object({ Ref: z.literal(apiId ?? "") }),
            Method: z.string(),
            Path: z.string(),
          }),
        })
        .safeParse(e);
      return event.success ? [[id, `${event.data.Properties.Method} ${event.data.Properties.Path}`] as const] : [];
    }),
  );
  /** [route key, integration subtype] of every DefinitionBody operation. */
  const operations = Object.entries(DefinitionBody.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => {
      const Integration = z.object({
        "x-amazon-apigateway-integration": z.object({ integrationSubtype: z.string().optional() }),
      });
      const subtype = Integration.parse(operation)["x-amazon-apigateway-integration"].integrationSubtype;
      return [`${method.toUpperCase()} ${path}`, subtype] as const;
    }),
  );

  test("the routes are the DefinitionBody's operations and the HttpApi events naming the API, no more", () => {
    expect(events.length).toBeGreaterThan(0);
    expect(operations.length).toBeGreaterThan(0);
    const keys = [...events.map(([, key]) => key), ...operations.map(([key]) => key)];
    expect(definition.routes.map((r) => r.routeKey).sort()).toEqual(keys.sort());
  });

  test("an event's route invokes its function (payload 2.0); a PutEvents operation puts on the bus's ARN", () => {
    for (const [functionId, key] of events) expect(route(key)?.integration).toEqual({ kind: "lambda", functionId });
    for (const [key, subtype] of operations.filter(([, subtype]) => subtype === "EventBridge-PutEvents")) {
      const integration = route(key)?.integration;
      expect([key, subtype, integration?.kind]).toEqual([key, subtype, "putEvents"]);
      if (integration?.kind === "putEvents") expect(integration.requestParameters.EventBusName).toBe(busArn);
    }
  });

  test("the default authorizer on every route, its issuer from the parameter the stack overrides", () => {
    expect(definition.routes.every((r) => r.authorizer === Auth.DefaultAuthorizer)).toBe(true);
    expect(jwtIssuerParameters(template)).toEqual(["ApiJwtIssuer"]);
    expect(definition.authorizers).toEqual([
      {
        name: Auth.DefaultAuthorizer,
        header: "authorization",
        issuer: "http://127.0.0.1:1",
        audience: [resolver.parameter("ApiJwtAudience")],
      },
    ]);
    expect(definition.throttling).toEqual({
      rate: Number(resolver.parameter("ApiThrottlingRateLimit")),
      burst: Number(resolver.parameter("ApiThrottlingBurstLimit")),
    });
    expect(definition.cors?.allowOrigins).toEqual([resolver.parameter("ApiCorsAllowOrigin")]);
    expect(definition.accessLogFormat).toContain("$context.requestId");
  });
});

describe("the server, with a recording function host", () => {
  const issuer = new LocalIssuer();
  const events: unknown[] = [];
  let reply: (event: unknown) => Promise<unknown> = async () => ({ statusCode: 200, body: "ok" });
  let api: LocalHttpApi;
  let url: string;

  beforeAll(async () => {
    await issuer.listen();
    issuer.serve("aud-1");
    const definition: HttpApiDefinition = {
      logicalId: "Api",
      apiId: "api-1",
      routes: [
        {
          ...routeTemplate("POST /things/{id}"),
          integration: { kind: "lambda", functionId: "Fn" },
          authorizer: "Jwt",
          scopes: [],
        },
        { ...routeTemplate("GET /open"), integration: { kind: "lambda", functionId: "Fn" }, scopes: [] },
        {
          ...routeTemplate("GET /scoped"),
          integration: { kind: "lambda", functionId: "Fn" },
          authorizer: "Jwt",
          scopes: ["admin"],
        },
      ],
      authorizers: [{ name: "Jwt", header: "authorization", issuer: issuer.url, audience: ["aud-1"] }],
    };
    const functions = {
      invoke: (_id: string, event: unknown) => {
        events.push(event);
        return reply(event);
      },
    };
    api = new LocalHttpApi(
      definition,
      { functions, bus: { putEvents: () => ({ FailedEntryCount: 0, Entries: [] }) } },
      { accountId: "123456789012" },
    );
    url = await api.listen();
  });

  afterAll(async () => {
    await api.close();
    await issuer.close();
  });

  /** Raw headers (Host and Content-Length added), so that a repeated header stays repeated; fetch joins them. */
  function send(method: string, path: string, headers: [string, string][], body?: Buffer) {
    return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      const req = httpRequest(
        `${url}${path}`,
        {
          method,
          headers: [
            ["Host", new URL(url).host],
            ...headers,
            ...(body ? [["Content-Length", String(body.length)]] : []),
          ].flat() as unknown as Record<string, string>,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
          );
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  test("a request becomes the payload 2.0 event AWS documents", async () => {
    const token = issuer.token("acme", { scope: "read write" });
    const res = await send(
      "POST",
      "/things/a%2Fb?x=1&x=2&y=%20z",
      [
        ["Authorization", `Bearer ${token}`],
        ["X-Multi", "a"],
        ["X-Multi", "b"],
        ["Cookie", "c1=v1; c2=v2"],
        ["Content-Type", "application/json"],
        ["User-Agent", "unit/1"],
      ],
      Buffer.from('{"k":1}'),
    );
    expect(res.status).toBe(200);
    const event = z.record(z.string(), z.unknown()).parse(events.at(-1));
    const context = z.record(z.string(), z.unknown()).parse(event.requestContext);
    expect(event).toMatchObject({
      version: "2.0",
      routeKey: "POST /things/{id}",
      rawPath: "/things/a%2Fb",
      rawQueryString: "x=1&x=2&y=%20z",
      cookies: ["c1=v1", "c2=v2"],
      queryStringParameters: { x: "1,2", y: " z" },
      pathParameters: { id: "a/b" },
      body: '{"k":1}',
      isBase64Encoded: false,
    });
    expect(event.headers).toMatchObject({
      "x-multi": "a,b",
      "content-type": "application/json",
      "user-agent": "unit/1",
    });
    expect(event.headers).not.toHaveProperty("cookie");
    expect(context).toMatchObject({
      accountId: "123456789012",
      apiId: "api-1",
      domainName: url.slice("http://".length),
      http: { method: "POST", path: "/things/a%2Fb", protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "unit/1" },
      requestId: res.headers["apigw-requestid"],
      routeKey: "POST /things/{id}",
      stage: "$default",
    });
    expect(context.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    expect(Math.abs(Number(context.timeEpoch) - Date.now())).toBeLessThan(10_000);
    const jwt = z.object({ jwt: z.object({ claims: z.record(z.string(), z.string()), scopes: z.array(z.string()) }) });
    const { claims, scopes } = jwt.parse(context.authorizer).jwt;
    expect(claims).toMatchObject({
      sub: "acme",
      client_id: "acme",
      aud: "aud-1",
      iss: issuer.url,
      scope: "read write",
    });
    expect(claims.exp).toMatch(/^\d+$/);
    expect(scopes).toEqual(["read", "write"]);
  });

  test("a binary body is base64; no body, no body field; an open route has no authorizer", async () => {
    await send("GET", "/open", [["Content-Type", "application/octet-stream"]], Buffer.from([1, 2, 255]));
    expect(events.at(-1)).toMatchObject({ body: Buffer.from([1, 2, 255]).toString("base64"), isBase64Encoded: true });
    await send("GET", "/open", []);
    const event = z.record(z.string(), z.unknown()).parse(events.at(-1));
    expect(event).not.toHaveProperty("body");
    expect(event).not.toHaveProperty("queryStringParameters");
    expect(event).not.toHaveProperty("cookies");
    expect(event.isBase64Encoded).toBe(false);
    expect(
      z.object({ requestContext: z.record(z.string(), z.unknown()) }).parse(event).requestContext,
    ).not.toHaveProperty("authorizer");
  });

  test("a function error, a timeout or a malformed response is 500 Internal Server Error", async () => {
    const failures: (() => Promise<unknown>)[] = [
      () => Promise.reject(new LambdaFunctionError("Error", "boom")),
      () => Promise.reject(new LambdaFunctionError("Sandbox.Timedout", "Task timed out after 10.00 seconds")),
      async () => ({ statusCode: "200" }),
    ];
    for (const failure of failures) {
      reply = failure;
      const res = await send("GET", "/open", []);
      expect([res.status, res.headers["content-type"], JSON.parse(res.body)]).toEqual([
        500,
        "application/json",
        { message: "Internal Server Error" },
      ]);
    }
    reply = async () => ({ statusCode: 200, body: "ok" });
  });

  test("a route's scopes: a token with none of them is 403 Forbidden", async () => {
    const without = await send("GET", "/scoped", [["authorization", issuer.token("acme", { scope: "read" })]]);
    expect([without.status, JSON.parse(without.body)]).toEqual([403, { message: "Forbidden" }]);
    expect(without.headers["www-authenticate"]).toMatch(/^Bearer scope="admin" error="insufficient_scope"/);
    const withScope = await send("GET", "/scoped", [["authorization", issuer.token("acme", { scope: "read admin" })]]);
    expect(withScope.status).toBe(200);
  });
});
