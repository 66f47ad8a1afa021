// Validate state: EventBridge event in, ValidatedEvent out, or ValidationRejected for the state machine to catch.
import { ClockSkewSchema, loadConfig } from "@tradeflow/common/config";
import { correlationIds, type ValidatedEvent, ValidationRejected } from "@tradeflow/common/contracts";
import { InstrumentListSchema, instrumentRegistry } from "@tradeflow/common/instruments";
import { logger, MetricUnit, metrics, withObservability } from "@tradeflow/common/observability";
import { type ValidationSources, validateEvent } from "@tradeflow/common/validation";

const sources: ValidationSources = {
  instruments: async () => instrumentRegistry(await loadConfig("instruments", InstrumentListSchema)),
  clockSkew: () => loadConfig("clock-skew", ClockSkewSchema),
  now: Date.now,
};

export const handler = withObservability(async (event: unknown): Promise<ValidatedEvent> => {
  logger.appendKeys(correlationIds(event));
  try {
    const validated = await validateEvent(event, sources);
    metrics.addMetric(validated.kind === "TRADE" ? "TradesValidated" : "OrdersValidated", MetricUnit.Count, 1);
    logger.info("event validated", { kind: validated.kind, checks: validated.checks });
    return validated;
  } catch (err) {
    if (!(err instanceof ValidationRejected)) throw err;
    metrics.addMetric("ValidationRejected", MetricUnit.Count, 1);
    // One metric per reason: the dimension's values are the fixed REASON_CODES, so cardinality stays bounded.
    for (const reason of err.reasons) {
      metrics.singleMetric().addDimension("reason", reason).addMetric("RejectionReason", MetricUnit.Count, 1);
    }
    logger.warn("event rejected", { reasons: err.reasons, explanation: err.explanation });
    throw err;
  }
});
