// The trading API as the local stack serves it from template.yaml: the JWT authorizer against the stack's own
// issuer (and its token endpoint, also through `npm run token`), CORS, route throttling (the stack started with a
// low ApiThrottlingRateLimit), 404 and 413 as API Gateway answers them, the read routes through the Query function,
// order entry through PutEvents onto the bus (and the executions its rule starts), and the access log.
// Needs `npm run build` (the function bundles).
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { Redis } from "ioredis";
import { z } from "zod";
import { repoRoot } from "../../local/servers";
import { type LocalStack, startLocalStack } from "../../local/stack";
import { stackInfo, writeStackFile } from "../../local/stack-file";
import { envelopeOf, executionsOf } from "../support/pipeline";
import { REDIS_DB, redisDbUrl } from "../support/redis-db";

const execFileAsync = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "tradeflow-http-api-"));
const logDir = join(dir, "logs");
/** Every route's bucket: BURST requests at once, then one a second. */
const BURST = 30;
const ORIGIN = "http://localhost:3000";
let stack: LocalStack;

beforeAll(async () => {
  const { DYNAMODB_ENDPOINT, MOTO_ENDPOINT } = process.env;
  if (!DYNAMODB_ENDPOINT || !MOTO_ENDPOINT) throw new Error("run through the integration project");
  const redisUrl = redisDbUrl(REDIS_DB.httpApi);
  const redis = new Redis(redisUrl);
  await redis.flushdb();
  await redis.quit();
  stack = await startLocalStack({
    servers: { redisUrl, dynamoEndpoint: DYNAMODB_ENDPOINT, motoEndpoint: MOTO_ENDPOINT },
    stage: "api",
    parameters: { ApiThrottlingRateLimit: "1", ApiThrottlingBurstLimit: String(BURST), ApiCorsAllowOrigin: ORIGIN },
    logDir,
    timing: { taskRetryMs: 10, eventRetryBaseMs: 10, sqsRetryVisibilitySeconds: 1 },
  });
}, 120_000);

afterAll(async () => {
  await stack?.idle();
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: unknown;
}

async function call(method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer) {
  const res = await fetch(`${stack.apiEndpoint}${path}`, { method, headers, ...(body !== undefined && { body }) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json } satisfies Answer;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const as = (clientId: string) => bearer(stack.issuer.token(clientId));
const claimsOf = (token: string) =>
  z.record(z.string(), z.unknown()).parse(JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()));
const audience = () => z.string().parse(claimsOf(stack.issuer.token("x")).aud);

describe("the issuer", () => {
  test("discovery document, JWKS and a client credentials token for any client id", async () => {
    const discovery = z
      .object({ issuer: z.string(), jwks_uri: z.string(), token_endpoint: z.string() })
      .parse(await (await fetch(`${stack.issuer.url}/.well-known/openid-configuration`)).json());
    expect(discovery).toEqual({
      issuer: stack.issuer.url,
      jwks_uri: `${stack.issuer.url}/.well-known/jwks.json`,
      token_endpoint: `${stack.issuer.url}/oauth2/token`,
    });
    const jwks = z
      .object({ keys: z.array(z.record(z.string(), z.string())) })
      .parse(await (await fetch(discovery.jwks_uri)).json());
    expect(jwks.keys).toEqual([expect.objectContaining({ kty: "RSA", alg: "RS256", use: "sig" })]);

    const res = await fetch(discovery.token_endpoint, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: "acme", scope: "orders:write" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const token = z
      .object({
        access_token: z.string(),
        token_type: z.literal("Bearer"),
        expires_in: z.literal(3600),
        scope: z.string(),
      })
      .parse(await res.json());
    const [header] = token.access_token.split(".");
    expect(JSON.parse(Buffer.from(header ?? "", "base64url").toString())).toEqual({
      alg: "RS256",
      typ: "JWT",
      kid: jwks.keys[0]?.kid,
    });
    const claims = claimsOf(token.access_token);
    expect(claims).toMatchObject({ iss: stack.issuer.url, sub: "acme", client_id: "acme", scope: "orders:write" });
    // The audience the template's authorizer accepts: its ApiJwtAudience parameter.
    expect(claims.aud).toBe(stack.resources.templateParameters.ApiJwtAudience ?? "tradeflow-api");
    expect(Number(claims.exp) - Number(claims.iat)).toBe(3600);
    expect((await call("GET", "/instruments", bearer(token.access_token))).status).toBe(200);
  });

  test("HTTP Basic client authentication; other grants and no client are refused as RFC 6749 says", async () => {
    const token = (body: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(stack.issuer.tokenEndpoint, { method: "POST", headers, body: new URLSearchParams(body) });
    const basic = await token(
      { grant_type: "client_credentials" },
      { authorization: `Basic ${Buffer.from("globex:any-secret").toString("base64")}` },
    );
    expect(claimsOf(z.object({ access_token: z.string() }).parse(await basic.json()).access_token).sub).toBe("globex");
    const password = await token({ grant_type: "password", client_id: "acme" });
    expect([password.status, await password.json()]).toMatchObject([400, { error: "unsupported_grant_type" }]);
    const anonymous = await token({ grant_type: "client_credentials" });
    expect([anonymous.status, await anonymous.json()]).toMatchObject([401, { error: "invalid_client" }]);
  });

  test("npm run token asks the running stack's token endpoint and prints the token alone", async () => {
    const stackFile = join(dir, "stack.json");
    writeStackFile(stackInfo(stack), stackFile);
    const tsx = join(repoRoot, "node_modules", ".bin", "tsx");
    const env = {
      ...process.env,
      TRADEFLOW_STACK_FILE: stackFile,
      PATH: `${dirname(process.execPath)}:${process.env.PATH}`,
    };
    const { stdout } = await execFileAsync(tsx, ["scripts/token.ts", "--client", "acme"], { cwd: repoRoot, env });
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(claimsOf(stdout.trim()).sub).toBe("acme");
    expect((await call("GET", "/instruments", bearer(stdout.trim()))).status).toBe(200);
    await expect(execFileAsync(tsx, ["scripts/token.ts"], { cwd: repoRoot, env })).rejects.toMatchObject({ code: 2 });
  });
});

describe("the JWT authorizer", () => {
  const refused = (answer: Answer, description: string) => {
    expect([answer.status, answer.json]).toEqual([401, { message: "Unauthorized" }]);
    expect(answer.headers.get("www-authenticate")).toBe(
      `Bearer scope="" error="invalid_token" error_description="${description}"`,
    );
  };
  const now = () => Math.floor(Date.now() / 1000);

  test("no token: 401 before the function runs", async () => {
    const answer = await call("GET", "/fills");
    expect([answer.status, answer.json]).toEqual([401, { message: "Unauthorized" }]);
    expect(answer.headers.get("www-authenticate")).toBe("Bearer");
    expect(answer.headers.get("apigw-requestid")).toMatch(/^[\w+/]{15}=$/);
  });

  test("a bad signature, another key id, an algorithm other than RSA: 401", async () => {
    const [header, payload] = stack.issuer.token("acme").split(".");
    const [, , otherSignature] = stack.issuer.token("globex").split(".");
    refused(
      await call("GET", "/fills", bearer(`${header}.${payload}.${otherSignature}`)),
      "the token's signature is invalid",
    );
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const [, , signature] = stack.issuer.token("acme").split(".");
    const unknownKid = `${part({ alg: "RS256", typ: "JWT", kid: "another" })}.${payload}.${signature}`;
    refused(await call("GET", "/fills", bearer(unknownKid)), "the token's kid matches no key of the issuer");
    const hmac = `${part({ alg: "HS256", typ: "JWT" })}.${payload}.${signature}`;
    refused(await call("GET", "/fills", bearer(hmac)), "signing method HS256 is invalid");
    refused(await call("GET", "/fills", bearer("not-a-jwt")), "the token is malformed");
  });

  test("the claims as API Gateway checks them: aud (or client_id), iss, exp, nbf, iat", async () => {
    const token = (claims: Record<string, unknown>) => bearer(stack.issuer.token("acme", { claims }));
    // AWS's documented description for this one: http-api-troubleshooting-jwt.html
    refused(await call("GET", "/fills", token({ aud: "another-api" })), "the token does not have a valid audience");
    refused(await call("GET", "/fills", token({ aud: undefined })), "the token does not have a valid audience");
    expect((await call("GET", "/fills", token({ aud: undefined, client_id: audience() }))).status).toBe(200);
    expect((await call("GET", "/fills", token({ aud: ["another-api", audience()] }))).status).toBe(200);
    refused(
      await call("GET", "/fills", token({ iss: "https://issuer.tradeflow.example" })),
      "the token does not have a valid issuer",
    );
    refused(await call("GET", "/fills", token({ exp: now() - 1 })), "the token has expired");
    refused(await call("GET", "/fills", token({ exp: undefined })), "the token has expired");
    refused(await call("GET", "/fills", token({ nbf: now() + 600 })), "the token is not valid yet");
    refused(await call("GET", "/fills", token({ iat: now() + 600 })), "the token was issued in the future");
  });

  test("the token alone, without Bearer, is taken too", async () => {
    expect((await call("GET", "/fills", { authorization: stack.issuer.token("acme") })).status).toBe(200);
  });
});

describe("routes", () => {
  test("a path or method no route takes: 404 Not Found, before the authorizer", async () => {
    for (const [method, path] of [
      ["GET", "/nothing-here"],
      ["PUT", "/orders"],
      ["GET", "/orders/o-1/extra"],
    ] as const) {
      const answer = await call(method, path, as("acme"));
      expect([answer.status, answer.headers.get("content-type"), answer.json]).toEqual([
        404,
        "application/json",
        { message: "Not Found" },
      ]);
    }
    expect((await call("GET", "/nothing-here")).status).toBe(404);
  });

  test("GET /instruments through the Query function: 200 JSON, the stage's registry", async () => {
    const answer = await call("GET", "/instruments", as("acme"));
    expect([answer.status, answer.headers.get("content-type")]).toEqual([200, "application/json"]);
    const ssm = new SSMClient({ endpoint: stack.motoEndpoint, region: stack.region });
    const { Parameter } = await ssm.send(
      new GetParameterCommand({ Name: `${stack.resources.configPath}/instruments` }),
    );
    ssm.destroy();
    const symbols = (value: unknown) =>
      z
        .array(z.object({ symbol: z.string() }).loose())
        .parse(value)
        .map((i) => i.symbol);
    const { items } = z.object({ items: z.unknown() }).parse(answer.json);
    expect(symbols(items).sort()).toEqual(symbols(JSON.parse(Parameter?.Value ?? "[]")).sort());
  });

  test("the token's sub reaches the function as the client: GET /orders lists the caller's (none)", async () => {
    const answer = await call("GET", "/orders?limit=5", as("nobody-yet"));
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ items: [] });
  });

  test("a body over 10 MB: 413; 10 MB passes on, and EventBridge refuses the entry's size itself", async () => {
    const limit = 10 * 1024 * 1024;
    const tooLarge = await call("POST", "/orders", as("acme"), Buffer.alloc(limit + 1, "a"));
    expect([tooLarge.status, tooLarge.json]).toEqual([413, { message: "Request Entity Too Large" }]);
    const atLimit = await call("POST", "/orders", as("acme"), Buffer.alloc(limit, "a"));
    expect([atLimit.status, atLimit.json]).toEqual([
      400,
      { __type: "ValidationException", message: "Total size of the entries in the request is over the limit." },
    ]);
  });
});

describe("order entry: PutEvents onto the bus", () => {
  const order = { orderId: "api-o-1", symbol: "BTC-USD", side: "BUY", type: "LIMIT", price: "100", quantity: "1" };
  const EntryResult = z.object({
    FailedEntryCount: z.number(),
    Entries: z.array(
      z.object({
        EventId: z.string().optional(),
        ErrorCode: z.string().optional(),
        ErrorMessage: z.string().optional(),
      }),
    ),
  });

  /** The envelope the bus routed for an event id: the rule's execution was started with it. */
  async function routed(eventId: string) {
    await stack.bus.idle();
    const [execution] = executionsOf(stack, eventId);
    if (!execution) throw new Error(`no execution for event ${eventId}`);
    return envelopeOf(execution);
  }

  test("POST /orders as acme: 202, PutEvents' answer; the event is tradeflow.api Order Submitted for acme", async () => {
    const answer = await call(
      "POST",
      "/orders",
      { ...as("acme"), "content-type": "application/json" },
      JSON.stringify(order),
    );
    expect([answer.status, answer.headers.get("content-type")]).toEqual([202, "application/json"]);
    const result = EntryResult.parse(answer.json);
    expect(result).toEqual({ FailedEntryCount: 0, Entries: [{ EventId: expect.any(String) }] });
    const envelope = await routed(String(result.Entries[0]?.EventId));
    expect(envelope).toMatchObject({
      source: "tradeflow.api",
      "detail-type": "Order Submitted",
      detail: { order, clientId: "acme" },
      account: stack.resources.accountId,
      region: stack.region,
    });
  });

  test("a body that is not JSON: still 202, with the entry EventBridge refused (MalformedDetail)", async () => {
    const answer = await call("POST", "/orders", as("acme"), "not json");
    expect(answer.status).toBe(202);
    expect(answer.json).toEqual({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed." }],
    });
  });

  test("DELETE /orders/o-1?symbol=BTC-USD: the cancel request, its fields from the path, query and token", async () => {
    const answer = await call("DELETE", "/orders/o-1?symbol=BTC-USD", as("acme"));
    expect(answer.status).toBe(202);
    const result = EntryResult.parse(answer.json);
    expect(result.FailedEntryCount).toBe(0);
    expect(await routed(String(result.Entries[0]?.EventId))).toMatchObject({
      source: "tradeflow.api",
      "detail-type": "Order Cancel Requested",
      detail: { orderId: "o-1", symbol: "BTC-USD", clientId: "acme" },
    });
  });

  test("the access log: one line per request in the template's Format", async () => {
    const answer = await call("POST", "/orders", as("acme"), JSON.stringify(order));
    const refused = await call("POST", "/orders", bearer("not-a-jwt"));
    const requestId = answer.headers.get("apigw-requestid");
    const file = join(logDir, "TradingApi-access.log");
    const lineOf = async (id: string | null) => {
      for (let i = 0; i < 50; i++) {
        const line = readFileSync(file, "utf8")
          .split("\n")
          .find((l) => l.includes(`"requestId":"${id}"`));
        if (line) return z.record(z.string(), z.string()).parse(JSON.parse(line));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error(`no access log line for ${id}`);
    };
    expect(await lineOf(requestId)).toMatchObject({
      ip: "127.0.0.1",
      routeKey: "POST /orders",
      status: "202",
      integrationStatus: "200",
      clientId: "acme",
      authorizerError: "-",
      error: "-",
      responseLength: String(Buffer.byteLength(answer.text)),
    });
    expect(await lineOf(refused.headers.get("apigw-requestid"))).toMatchObject({
      status: "401",
      clientId: "-",
      authorizerError: "the token is malformed",
      error: "Unauthorized",
      integrationStatus: "-",
    });
  });
});

describe("CORS", () => {
  const preflight = (origin: string) =>
    call("OPTIONS", "/orders", {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization,content-type",
    });

  test("a preflight is answered from CorsConfiguration, without a token", async () => {
    const answer = await preflight(ORIGIN);
    expect(answer.status).toBe(204);
    expect(Object.fromEntries([...answer.headers].filter(([name]) => name.startsWith("access-control-")))).toEqual({
      "access-control-allow-origin": ORIGIN,
      "access-control-allow-methods": "GET,POST,DELETE",
      "access-control-allow-headers": "authorization,content-type",
      "access-control-max-age": "3600",
    });
    const other = await preflight("https://elsewhere.example");
    expect(other.status).toBe(204);
    expect([...other.headers.keys()].filter((name) => name.startsWith("access-control-"))).toEqual([]);
  });

  test("the allowed origin gets access-control-allow-origin on answers, the API's own 401 included", async () => {
    const ok = await call("GET", "/instruments", { ...as("acme"), origin: ORIGIN });
    expect([ok.status, ok.headers.get("access-control-allow-origin")]).toEqual([200, ORIGIN]);
    const unauthorized = await call("GET", "/instruments", { origin: ORIGIN });
    expect([unauthorized.status, unauthorized.headers.get("access-control-allow-origin")]).toEqual([401, ORIGIN]);
    const other = await call("GET", "/instruments", { ...as("acme"), origin: "https://elsewhere.example" });
    expect([other.status, other.headers.get("access-control-allow-origin")]).toEqual([200, null]);
  });
});

describe("throttling", () => {
  test("a burst over ThrottlingBurstLimit: 429 Too Many Requests, refilled at ThrottlingRateLimit a second", async () => {
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: BURST + 10 }, () => call("GET", "/books/BTC-USD")));
    const seconds = (Date.now() - started) / 1000;
    const throttled = answers.filter((a) => a.status === 429);
    const through = answers.filter((a) => a.status === 401);
    expect(throttled.length + through.length).toBe(BURST + 10);
    expect(through.length).toBeGreaterThanOrEqual(BURST);
    expect(through.length).toBeLessThanOrEqual(BURST + Math.ceil(seconds));
    for (const a of throttled)
      expect([a.headers.get("content-type"), a.json]).toEqual(["application/json", { message: "Too Many Requests" }]);
    // Another route has its own bucket.
    expect((await call("GET", "/trades/BTC-USD")).status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await call("GET", "/books/BTC-USD")).status).toBe(401);
  });
});
