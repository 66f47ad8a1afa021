// Enrich state: EventBridge event in, Enrichment out. Never throws for missing context; it lists what it defaulted.
import { loadConfig } from "@tradeflow/common/config";
import { correlationIds, type Enrichment } from "@tradeflow/common/contracts";
import {
  type EnrichmentSources,
  enrichEvent,
  FeeScheduleSchema,
  TradingSessionsSchema,
  topOfBookFromEngine,
} from "@tradeflow/common/enrichment";
import { InstrumentListSchema, instrumentRegistry } from "@tradeflow/common/instruments";
import { logger, MetricUnit, metrics, withObservability } from "@tradeflow/common/observability";
import { sharedRedis } from "@tradeflow/common/redis";

const sources: EnrichmentSources = {
  instruments: async () => instrumentRegistry(await loadConfig("instruments", InstrumentListSchema)),
  feeSchedule: () => loadConfig("fee-schedule", FeeScheduleSchema),
  tradingSessions: () => loadConfig("trading-sessions", TradingSessionsSchema),
  topOfBook: topOfBookFromEngine(sharedRedis),
};

export const handler = withObservability(async (event: unknown): Promise<Enrichment> => {
  logger.appendKeys(correlationIds(event));
  const enrichment = await enrichEvent(event, sources);
  metrics.addMetric("EventsEnriched", MetricUnit.Count, 1);
  if (enrichment.defaulted.length > 0) {
    metrics.addMetric("EnrichmentDefaulted", MetricUnit.Count, 1);
    logger.warn("enrichment defaulted", { defaulted: enrichment.defaulted });
  }
  return enrichment;
});
