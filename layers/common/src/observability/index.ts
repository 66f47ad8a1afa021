// One logger, tracer and metrics instance per function bundle. Service name and namespace come from the
// environment (POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE), which template.yaml sets per function.
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { Tracer } from "@aws-lambda-powertools/tracer";
import type { Context } from "aws-lambda";
import { asDependencyUnavailable } from "./dependency";

export const logger = new Logger();
export const tracer = new Tracer();
export const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? "Tradeflow" });

export { MetricUnit } from "@aws-lambda-powertools/metrics";

/**
 * What Powertools' Middy middlewares do, without Middy: Lambda context on every log line, a cold-start metric,
 * a `## handler` subsegment with cold-start and service annotations, and metrics flushed after every invocation.
 * A transient failure leaves as DependencyUnavailable (./dependency.ts), so every task retries it under one name.
 */
export function withObservability<E, R>(
  handler: (event: E, context: Context) => Promise<R>,
): (event: E, context: Context) => Promise<R> {
  const name = `## ${process.env._HANDLER ?? "handler"}`;
  return async (event, context) => {
    logger.addContext(context);
    metrics.captureColdStartMetric();
    const parent = tracer.isTracingEnabled() ? tracer.getSegment() : undefined;
    const segment = parent?.addNewSubsegment(name);
    if (segment) {
      tracer.setSegment(segment);
      tracer.annotateColdStart();
      tracer.addServiceNameAnnotation();
    }
    try {
      return await handler(event, context);
    } catch (err) {
      const thrown = asDependencyUnavailable(err);
      if (segment) tracer.addErrorAsMetadata(thrown as Error);
      throw thrown;
    } finally {
      segment?.close();
      if (parent) tracer.setSegment(parent);
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
      logger.resetKeys();
    }
  };
}
