export {
  DEFAULT_CANDLE_RETENTION_DAYS,
  DEFAULT_IDEMPOTENCY_TTL_SECONDS,
  MAX_UNITS,
  MatchingEngine,
  type MatchingEngineOptions,
} from "./engine";
export { bookKeys } from "./scripts";
export * from "./types";
