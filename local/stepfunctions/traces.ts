// Execution traces, built from an execution's history (GetExecutionHistory's events): the state path with each
// state's start, duration, attempts, retries and catch. The local runtime keeps one per execution (what X-Ray and
// the console's graph would show on AWS); the commands build the same from the gateway's GetExecutionHistory.
import type { AslState } from "./asl";
import type { Execution } from "./workflow";

/** One GetExecutionHistory event; `timestamp` in epoch milliseconds. */
export interface HistoryEvent {
  readonly timestamp: number;
  readonly type: string;
  readonly id: number;
  readonly previousEventId: number;
  readonly [details: string]: unknown;
}

export interface StateTrace {
  readonly state: string;
  readonly type: string;
  /** 0 for the top level, 1 inside a Parallel branch, and so on. */
  readonly depth: number;
  /** Milliseconds from the execution's start. */
  readonly startMs: number;
  durationMs: number;
  /** Task invocations (1 + retries). */
  attempts: number;
  /** Each failed attempt that was retried: its error, and when the retry started (ms from the state's start). */
  readonly retries: { error: string; afterMs: number }[];
  caught?: { error: string; next: string };
  failed?: { error: string; cause: string };
}

/** A machine's states by name with their nesting (statesByName). */
export type MachineStates = ReadonlyMap<string, { state: AslState; depth: number }>;

type Details = Readonly<Record<string, unknown>>;

function details(event: HistoryEvent, ...keys: string[]): Details | undefined {
  for (const key of keys) {
    const value = event[key];
    if (typeof value === "object" && value !== null) return value as Details;
  }
  return undefined;
}

const text = (value: unknown) => (typeof value === "string" ? value : undefined);

const FAILURES = [
  "lambdaFunctionFailedEventDetails",
  "lambdaFunctionTimedOutEventDetails",
  "lambdaFunctionStartFailedEventDetails",
  "taskFailedEventDetails",
  "taskTimedOutEventDetails",
];

/** Which catcher takes the error: ErrorEquals names it, or States.ALL, or States.TaskFailed (all but States.Timeout). */
function catches(catcher: { ErrorEquals: string[] }, error: string): boolean {
  const e = catcher.ErrorEquals;
  return (
    e.includes(error) || e.includes("States.ALL") || (e.includes("States.TaskFailed") && error !== "States.Timeout")
  );
}

/**
 * The state path of an execution from its history. A Task's Scheduled/Started/Succeeded/Failed events carry no
 * state name, so they go to the open Task state whose Resource they name; a Scheduled event after a failure is its
 * retry. A Parallel fails with the last error of its branches; a Fail state with the execution's error. A failed
 * state whose Catch matches the error, and whose catcher's Next then runs, was caught.
 */
export function traceOf(events: readonly HistoryEvent[], states: MachineStates): StateTrace[] {
  const t0 = events[0]?.timestamp ?? 0;
  const steps: StateTrace[] = [];
  const open = new Map<string, StateTrace>();
  let current: StateTrace | undefined;
  let lastFailure: { error: string; cause: string } | undefined;
  for (const e of events) {
    const at = e.timestamp - t0;
    const entered = text(details(e, "stateEnteredEventDetails")?.name);
    const exited = text(details(e, "stateExitedEventDetails")?.name);
    const lambda = details(e, "lambdaFunctionScheduledEventDetails");
    const task = details(e, "taskScheduledEventDetails");
    const scheduled = lambda
      ? text(lambda.resource)
      : task && `arn:aws:states:::${text(task.resourceType)}:${text(task.resource)}`;
    const failure = details(e, ...FAILURES);
    if (entered !== undefined) {
      const step: StateTrace = {
        state: entered,
        type: e.type.replace(/StateEntered$/, ""),
        depth: states.get(entered)?.depth ?? 0,
        startMs: at,
        durationMs: 0,
        attempts: 0,
        retries: [],
      };
      steps.push(step);
      open.set(entered, step);
    } else if (exited !== undefined) {
      const step = open.get(exited);
      if (step) step.durationMs = at - step.startMs;
      open.delete(exited);
    } else if (scheduled !== undefined) {
      const candidates = [...open.values()].filter((s) => s.type === "Task").reverse();
      current = candidates.find((s) => states.get(s.state)?.state.Resource === scheduled) ?? candidates[0] ?? current;
      if (!current) continue;
      current.attempts += 1;
      if (current.failed) current.retries.push({ error: current.failed.error, afterMs: at - current.startMs });
      current.failed = undefined;
    } else if (failure && current) {
      current.failed = { error: text(failure.error) ?? "States.TaskFailed", cause: text(failure.cause) ?? "" };
      current.durationMs = at - current.startMs;
      lastFailure = current.failed;
    } else if (e.type === "ParallelStateFailed" || e.type === "MapStateFailed") {
      const step = [...open.values()].reverse().find((s) => s.type === e.type.replace(/StateFailed$/, ""));
      if (step) {
        step.failed = lastFailure ?? { error: "States.BranchFailed", cause: "" };
        step.durationMs = at - step.startMs;
      }
    } else if (e.type === "ExecutionFailed") {
      const step = steps.at(-1);
      const execution = details(e, "executionFailedEventDetails");
      if (step?.type === "Fail" && open.has(step.state))
        step.failed = { error: text(execution?.error) ?? "", cause: text(execution?.cause) ?? "" };
    }
  }
  for (const [i, step] of steps.entries()) {
    const error = step.failed?.error;
    const catcher = error && states.get(step.state)?.state.Catch?.find((c) => catches(c, error));
    if (!error || !catcher || !steps.slice(i + 1).some((s) => s.state === catcher.Next)) continue;
    step.caught = { error, next: catcher.Next };
    step.failed = undefined;
  }
  return steps;
}

/** A state's retries, failure and catch in a few words: `retried 2x: DependencyUnavailable; caught E -> Next`. */
export function stepNotes(step: StateTrace): string {
  const retried = [...new Set(step.retries.map((r) => r.error))].join(", ");
  return [
    step.retries.length ? `retried ${step.retries.length}x: ${retried}` : "",
    step.failed ? `failed ${step.failed.error}` : "",
    step.caught ? `caught ${step.caught.error} -> ${step.caught.next}` : "",
  ]
    .filter(Boolean)
    .join("; ");
}

export interface TraceRecord {
  readonly executionArn: string;
  readonly eventId: string;
  readonly source: string;
  readonly detailType: string;
  readonly status: string;
  readonly error?: string;
  readonly durationMs: number;
  readonly states: StateTrace[];
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

/** The trace as an indented timeline: each state's start offset, duration, attempts and notes. */
export function formatTrace(record: TraceRecord): string {
  const head = `${record.detailType} from ${record.source} (event ${record.eventId}): ${record.status}${
    record.error ? ` ${record.error}` : ""
  } in ${record.durationMs} ms`;
  const lines = record.states.map((s) => {
    const notes = [s.attempts > 1 ? `${s.attempts} attempts` : "", stepNotes(s)].filter(Boolean).join("; ");
    const indent = "  ".repeat(s.depth + 1);
    const name = `${indent}${s.state}`.padEnd(20);
    return `${name}${s.type.padEnd(9)} +${String(s.startMs).padStart(4)} ms ${String(s.durationMs).padStart(5)} ms  ${notes}`.trimEnd();
  });
  return [head, ...lines].join("\n");
}
