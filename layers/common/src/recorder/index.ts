export { CommandResultSchema, parseRecordInput, type RecordInput, RecordInputInvalid } from "./input";
export {
  COMPLIANCE_SOURCE,
  type DomainEvent,
  type DomainEventType,
  planRecord,
  type RecordPlan,
  TERMINAL_VERSION,
} from "./plan";
export {
  RecorderContention,
  type RecorderDeps,
  RecorderPublishError,
  type RecordOutcome,
  type RecordSummary,
  recordExecution,
} from "./store";
