// Step Functions "Match" task: one engine command in, the engine's result out.
import { loadConfig } from "@tradeflow/common/config";
import { InstrumentListSchema, instrumentRegistry } from "@tradeflow/common/instruments";
import { logger, MetricUnit, metrics, tracer, withObservability } from "@tradeflow/common/observability";
import { DEFAULT_IDEMPOTENCY_TTL_SECONDS, MatchingEngine } from "@tradeflow/common/orderbook";
import { sharedRedis } from "@tradeflow/common/redis";

const ttl = Number(process.env.IDEMPOTENCY_TTL_SECONDS ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS);

const text = (event: unknown, key: string): string =>
  event && typeof event === "object" && typeof (event as Record<string, unknown>)[key] === "string"
    ? ((event as Record<string, string>)[key] ?? "").slice(0, 64)
    : "";

export const handler = withObservability(async (event: unknown) => {
  const orderId = text(event, "orderId");
  const symbol = text(event, "symbol");
  logger.appendKeys({ orderId, symbol });
  tracer.putAnnotation("orderId", orderId);
  tracer.putAnnotation("symbol", symbol);
  const [redis, instruments] = await Promise.all([sharedRedis(), loadConfig("instruments", InstrumentListSchema)]);
  const engine = new MatchingEngine({
    redis,
    instruments: instrumentRegistry(instruments),
    idempotencyTtlSeconds: ttl,
  });
  const result = await engine.execute(event);
  metrics.addMetric(result.status === "REJECTED" ? "OrdersRejectedByMatcher" : "OrdersMatched", MetricUnit.Count, 1);
  metrics.addMetric("TradesExecuted", MetricUnit.Count, result.replayed ? 0 : result.trades.length);
  if (result.replayed) metrics.addMetric("MatcherReplays", MetricUnit.Count, 1);
  logger.info("matched", {
    status: result.status,
    reason: result.reason,
    trades: result.trades.length,
    replayed: result.replayed,
  });
  return result;
});
