// Every test: Powertools in dev mode (pretty logs, no trace or metric emission to AWS).
process.env.POWERTOOLS_DEV = "true";
process.env.POWERTOOLS_TRACE_ENABLED = "false";
process.env.POWERTOOLS_METRICS_NAMESPACE ??= "Tradeflow";
process.env.POWERTOOLS_SERVICE_NAME ??= "tradeflow-test";
process.env.POWERTOOLS_LOG_LEVEL ??= "ERROR";
process.env.AWS_REGION ??= "us-east-1";
