// One logger, tracer and metrics instance per function bundle. Service name and namespace come from the
// environment (POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE), which template.yaml sets per function.
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { Tracer } from "@aws-lambda-powertools/tracer";

export const logger = new Logger();
export const tracer = new Tracer();
export const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? "Tradeflow" });

export { MetricUnit } from "@aws-lambda-powertools/metrics";
