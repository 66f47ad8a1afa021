// Per-execution traces: what X-Ray and the execution history would show on AWS, kept by the local runtime.
import type { Execution } from "./workflow";

export interface TraceRecord {
  readonly executionArn: string;
  readonly eventId: string;
  readonly source: string;
  readonly detailType: string;
  readonly status: string;
  readonly error?: string;
  readonly durationMs: number;
  readonly states: Execution["trace"];
}

function envelopeOf(execution: Execution): { id: string; source: string; detailType: string } {
  try {
    const event = JSON.parse(execution.input) as Record<string, unknown>;
    return {
      id: String(event.id ?? ""),
      source: String(event.source ?? ""),
      detailType: String(event["detail-type"] ?? ""),
    };
  } catch {
    return { id: "", source: "", detailType: "" };
  }
}

export function traceRecord(execution: Execution): TraceRecord {
  const { id, source, detailType } = envelopeOf(execution);
  return {
    executionArn: execution.executionArn,
    eventId: id,
    source,
    detailType,
    status: execution.status,
    ...(execution.error && { error: execution.error }),
    durationMs: (execution.stopDate ?? Date.now()) - execution.startDate,
    states: execution.trace,
  };
}

/** The trace as an indented timeline: each state's start offset, duration, attempts, retries and catch. */
export function formatTrace(record: TraceRecord): string {
  const head = `${record.detailType} from ${record.source} (event ${record.eventId}): ${record.status}${
    record.error ? ` ${record.error}` : ""
  } in ${record.durationMs} ms`;
  const lines = record.states.map((s) => {
    const notes = [
      s.attempts > 1 ? `${s.attempts} attempts` : "",
      ...s.retries.map((r) => `retried ${r.error} at +${r.afterMs} ms`),
      s.caught ? `caught ${s.caught.error} -> ${s.caught.next}` : "",
      s.failed ? `failed ${s.failed.error}` : "",
    ].filter(Boolean);
    const indent = "  ".repeat(s.depth + 1);
    const name = `${indent}${s.state}`.padEnd(20);
    return `${name}${s.type.padEnd(9)} +${String(s.startMs).padStart(4)} ms ${String(s.durationMs).padStart(5)} ms  ${notes.join("; ")}`.trimEnd();
  });
  return [head, ...lines].join("\n");
}
