export { parseRecordInput, type RecordInput, RecordInputInvalid } from "./input";
export {
  COMPLIANCE_SOURCE,
  type DomainEvent,
  type DomainEventType,
  decideVenueTrade,
  orderStateKey,
  orderVersionKey,
  planRecord,
  type RecordPlan,
} from "./plan";
export { type RecorderDeps, RecorderPublishError, recordExecution } from "./record";
