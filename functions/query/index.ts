// The trading API's read routes (HTTP API, payload format 2.0): one request in, a JSON or problem+json response out.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { loadConfig } from "@tradeflow/common/config";
import { InstrumentListSchema, instrumentRegistry } from "@tradeflow/common/instruments";
import { logger, MetricUnit, metrics, tracer, withObservability } from "@tradeflow/common/observability";
import {
  ApiProblem,
  answer,
  type HttpResponse,
  internalProblem,
  problemResponse,
  type QueryDeps,
} from "@tradeflow/common/query";
import { sharedRedis } from "@tradeflow/common/redis";
import * as z from "zod";

const env = z.object({ COMPLIANCE_TABLE: z.string().min(1) }).parse(process.env);

const deps: QueryDeps = {
  // Transient errors (throttling, 5xx, timeouts): exponential backoff with full jitter inside the SDK.
  db: DynamoDBDocumentClient.from(
    tracer.captureAWSv3Client(new DynamoDBClient({ maxAttempts: 3, retryMode: "standard" })),
  ),
  tableName: env.COMPLIANCE_TABLE,
  instruments: async () => instrumentRegistry(await loadConfig("instruments", InstrumentListSchema)),
  redis: sharedRedis,
};

const RouteKey = z.object({ routeKey: z.string().max(64) });
const routeOf = (event: unknown) => RouteKey.safeParse(event).data?.routeKey ?? "";

export const handler = withObservability(async (event: unknown): Promise<HttpResponse> => {
  const route = routeOf(event);
  logger.appendKeys({ route });
  tracer.putAnnotation("route", route);
  let response: HttpResponse;
  try {
    response = await answer(event, deps);
  } catch (err) {
    if (!(err instanceof ApiProblem)) logger.error("request failed", { error: err });
    response = problemResponse(err instanceof ApiProblem ? err : internalProblem());
  }
  metrics.addMetric(response.statusCode < 400 ? "QueriesAnswered" : "QueriesRefused", MetricUnit.Count, 1);
  logger.info("answered", { status: response.statusCode });
  return response;
});
