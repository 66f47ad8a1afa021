// docs/openapi.yaml against what serves it: the routes of template.yaml (every function's HttpApi events and the
// HttpApi's own order-entry routes), the
// engine's and the registry's shapes, and the query function's problem codes.
import { readFileSync } from "node:fs";
import { yamlParse } from "yaml-cfn";
import { z } from "zod";
import {
  ORDER_STATUSES,
  OrderStateSchema,
  OrderSubmittedDetailSchema,
  TradeSchema,
} from "../../layers/common/src/contracts";
import { InstrumentSchema } from "../../layers/common/src/instruments";
import { SIDES } from "../../layers/common/src/orderbook/types";
import { PROBLEMS, ROUTE_KEYS } from "../../layers/common/src/query";
import { httpApiDefinition } from "../../local/apigateway/definition";
import { loadTemplate, TemplateResolver, templateFile } from "../../local/template";

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"] as const;

const Schema = z.record(z.string(), z.unknown());
const Parameter = z.object({ name: z.string(), in: z.string(), required: z.boolean().optional() }).loose();
const Media = z.object({ schema: z.unknown() }).loose();
const Response = z.object({ description: z.string(), content: z.record(z.string(), Media).optional() }).loose();
const Ref = z.object({ $ref: z.string() });
const Operation = z
  .object({
    operationId: z.string(),
    parameters: z.array(z.union([Ref, Parameter])).default([]),
    responses: z.record(z.string(), z.union([Ref, Response])),
  })
  .loose();
const OpenApi = z.object({
  openapi: z.string(),
  security: z.array(z.record(z.string(), z.array(z.string()))),
  paths: z.record(z.string(), z.record(z.string(), z.unknown())),
  components: z.object({
    securitySchemes: z.record(z.string(), z.record(z.string(), z.unknown())),
    parameters: z.record(z.string(), Parameter),
    responses: z.record(z.string(), Response),
    schemas: z.record(z.string(), Schema),
  }),
});

const text = readFileSync(templateFile("docs/openapi.yaml"), "utf8");
const doc = OpenApi.parse(yamlParse(text));

/** What a local "#/components/<kind>/<name>" reference points at. */
function deref<T>(kind: "parameters" | "responses" | "schemas", value: unknown, schema: z.ZodType<T>): T {
  const ref = Ref.safeParse(value);
  if (!ref.success) return schema.parse(value);
  const [, , refKind, name] = ref.data.$ref.split("/");
  expect(refKind).toBe(kind);
  return schema.parse(doc.components[kind][String(name)]);
}

const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
  METHODS.filter((m) => m in item).map((method) => ({
    key: `${method.toUpperCase()} ${path}`,
    path,
    operation: Operation.parse(item[method]),
  })),
);

/** The API's routes as the local stack serves them, from template.yaml (every resource a placeholder name). */
const template = loadTemplate();
const placeholders = Object.fromEntries(
  Object.keys(template.Resources).map((id) => [
    id,
    { ref: id, attributes: new Proxy({}, { get: (_, attribute) => `${id}.${String(attribute)}` }) },
  ]),
);
const api = httpApiDefinition(new TemplateResolver(template, { region: "us-east-1", resources: placeholders }));
const routes = api.routes.map((r) => r.routeKey);
/** The query function's routes, and those whose integration is API Gateway's own (order entry). */
const functionRoutes = api.routes.filter((r) => r.integration.kind === "lambda").map((r) => r.routeKey);
const integrationRoutes = api.routes.filter((r) => r.integration.kind !== "lambda").map((r) => r.routeKey);

const pathParameters = (path: string) => [...path.matchAll(/\{([^}]+)\}/g)].map((m) => String(m[1])).sort();
const keysOf = (schema: string) =>
  Object.keys(z.object({ properties: Schema }).parse(doc.components.schemas[schema]).properties).sort();

test("it is an OpenAPI 3.1 description whose every operation needs the bearer JWT", () => {
  expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
  expect(doc.security).toEqual([{ bearerJwt: [] }]);
  expect(doc.components.securitySchemes.bearerJwt).toMatchObject({
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
  });
  for (const { key, operation } of operations) expect({ key, security: operation.security }).toEqual({ key });
});

test("its operations are exactly the template's HttpApi routes, and the query function's", () => {
  expect(routes.length).toBeGreaterThan(0);
  expect(operations.map((o) => o.key).sort()).toEqual([...routes].sort());
  expect([...ROUTE_KEYS].sort()).toEqual([...functionRoutes].sort());
  expect(integrationRoutes.sort()).toEqual(["DELETE /orders/{orderId}", "POST /orders"]);
  expect(new Set(operations.map((o) => o.operation.operationId)).size).toBe(operations.length);
});

test("each operation declares its path's parameters, required, and no others in the path", () => {
  for (const { key, path, operation } of operations) {
    const parameters = operation.parameters.map((p) => deref("parameters", p, Parameter));
    const inPath = parameters.filter((p) => p.in === "path");
    expect({ key, names: inPath.map((p) => p.name).sort() }).toEqual({ key, names: pathParameters(path) });
    for (const p of inPath)
      expect({ key, name: p.name, required: p.required }).toEqual({ key, name: p.name, required: true });
    const names = parameters.map((p) => `${p.in} ${p.name}`);
    expect(new Set(names).size).toBe(names.length);
  }
});

test("every error the function answers is a problem+json Problem; API Gateway's own are its message body", () => {
  for (const { key, operation } of operations) {
    const statuses = Object.keys(operation.responses);
    const ownIntegration = integrationRoutes.includes(key);
    expect({ key, statuses: statuses.filter((s) => ["400", "401", "429", "500"].includes(s)) }).toEqual({
      key,
      statuses: ownIntegration ? ["401", "429", "500"] : ["400", "401", "429", "500"],
    });
    for (const status of statuses.filter((s) => Number(s) >= 400)) {
      const response = deref("responses", operation.responses[status], Response);
      const media = Object.keys(response.content ?? {});
      const gateway = ownIntegration || status === "401" || status === "429";
      expect({ key, status, media }).toEqual({
        key,
        status,
        media: [gateway ? "application/json" : "application/problem+json"],
      });
      const schema = Object.values(response.content ?? {})[0]?.schema;
      expect({ key, status, schema }).toEqual({
        key,
        status,
        schema: { $ref: gateway ? "#/components/schemas/GatewayMessage" : "#/components/schemas/Problem" },
      });
    }
  }
});

test("order entry answers 202 with PutEvents' result, and its body is the submit contract without clientId", () => {
  for (const key of integrationRoutes) {
    const operation = operations.find((o) => o.key === key)?.operation;
    expect({ key, accepted: operation?.responses["202"] }).toEqual({
      key,
      accepted: { $ref: "#/components/responses/Accepted" },
    });
  }
  const submitFields = Object.keys(
    z
      .object({ options: z.array(z.object({ shape: z.record(z.string(), z.unknown()) })) })
      .parse(OrderSubmittedDetailSchema.def).options[0]?.shape ?? {},
  );
  expect(keysOf("OrderEntry")).toEqual(submitFields.filter((f) => f !== "clientId").sort());
});

test("the 404s are where the contract has them: an order by id, and the symbol routes", () => {
  const withNotFound = operations.filter((o) => "404" in o.operation.responses).map((o) => o.key);
  expect(withNotFound.sort()).toEqual([
    "GET /books/{symbol}",
    "GET /candles/{symbol}",
    "GET /orders/{orderId}",
    "GET /trades/{symbol}",
  ]);
});

test("the Problem schema is RFC 9457's members plus the query function's codes and statuses", () => {
  const problem = z
    .object({
      required: z.array(z.string()),
      properties: z.object({
        status: z.object({ enum: z.array(z.number()) }),
        code: z.object({ enum: z.array(z.string()) }),
      }),
    })
    .parse(doc.components.schemas.Problem);
  expect(problem.required.sort()).toEqual(["code", "detail", "status", "title", "type"]);
  expect(problem.properties.code.enum.sort()).toEqual(Object.keys(PROBLEMS).sort());
  expect(problem.properties.status.enum.sort()).toEqual(
    [...new Set(Object.values(PROBLEMS).map((p) => p.status))].sort(),
  );
  // Each example is what the function answers for its code: the code's status, and its type URI.
  const examples = Object.values(doc.components.responses).flatMap((r) => {
    const media = r.content?.["application/problem+json"];
    return media
      ? [
          z
            .object({ example: z.object({ type: z.string(), status: z.number(), code: z.string() }) })
            .loose()
            .parse(media).example,
        ]
      : [];
  });
  expect(examples.length).toBeGreaterThan(0);
  for (const example of examples) {
    const [, expected] = Object.entries(PROBLEMS).find(([code]) => code === example.code) ?? [];
    const type = `https://tradeflow.example/problems/${example.code.toLowerCase().replaceAll("_", "-")}`;
    expect(example).toEqual({ code: example.code, status: expected?.status, type });
  }
});

test("OrderState, Trade and InstrumentView have exactly the engine's and the registry's fields", () => {
  expect(keysOf("OrderState")).toEqual(Object.keys(OrderStateSchema.shape).sort());
  expect(keysOf("Trade")).toEqual(Object.keys(TradeSchema.shape).sort());
  expect(keysOf("InstrumentView")).toEqual(Object.keys(InstrumentSchema.shape).sort());
  expect(doc.components.schemas.OrderStatus?.enum).toEqual([...ORDER_STATUSES]);
  expect(doc.components.schemas.Side?.enum).toEqual([...SIDES]);
});

test("decimal strings are strings whose pattern takes the engine's decimals and nothing else", () => {
  const DecimalSchema = z.object({ type: z.literal("string"), pattern: z.string() }).loose();
  const decimal = new RegExp(DecimalSchema.parse(doc.components.schemas.Decimal).pattern);
  const positive = z
    .object({ pattern: z.string(), not: z.object({ pattern: z.string() }) })
    .loose()
    .parse(DecimalSchema.parse(doc.components.schemas.PositiveDecimal));
  for (const ok of ["0", "101.25", "0.0001", "5000000"])
    expect({ ok, match: decimal.test(ok) }).toEqual({ ok, match: true });
  for (const bad of ["", "-1", "1e3", "01", "1.", ".5", " 1", "NaN", "0x10"]) {
    expect({ bad, match: decimal.test(bad) }).toEqual({ bad, match: false });
  }
  const isPositive = (s: string) => new RegExp(positive.pattern).test(s) && !new RegExp(positive.not.pattern).test(s);
  expect(["101.25", "0.01", "0", "0.00"].map(isPositive)).toEqual([true, true, false, false]);
});

test("every $ref points at a component that exists", () => {
  const refs = [...text.matchAll(/\$ref: "([^"]+)"/g)].map((m) => String(m[1]));
  expect(refs.length).toBeGreaterThan(0);
  for (const ref of refs) {
    const [hash, components, kind, name, ...rest] = ref.split("/");
    expect({ ref, hash, components, rest }).toEqual({ ref, hash: "#", components: "components", rest: [] });
    const kinds: Record<string, Record<string, unknown>> = doc.components;
    expect({ ref, exists: String(name) in (kinds[String(kind)] ?? {}) }).toEqual({ ref, exists: true });
  }
});
