// What the commands against the local stack (put-events, invoke, inspect) share: arguments and JSON inputs as the
// aws CLI takes them, the stack file, SDK settings for the gateway, execution traces read back from
// GetExecutionHistory, and plain aligned text.
import { existsSync, readFileSync } from "node:fs";
import { type ParseArgsConfig, parseArgs } from "node:util";
import {
  DescribeStateMachineCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  type SFNClient,
} from "@aws-sdk/client-sfn";
import { AslMachineSchema, type AslState, statesByName } from "../local/asl";
import { findStack, requireStack, STACK_FILE, type StackInfo } from "../local/stack-file";

/** Bad arguments: the message and exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export function cliArgs<T extends ParseArgsConfig>(usage: string, config: T): ReturnType<typeof parseArgs<T>> {
  let parsed: ReturnType<typeof parseArgs<T>>;
  try {
    parsed = parseArgs(config);
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${usage}`);
  }
  if ((parsed.values as Record<string, unknown>).help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return parsed;
}

export function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, not ${value}`);
  return n;
}

/** Runs a command: its resolved number is the exit code; an error is printed (without a stack) and exits 1, or 2. */
export function runCommand(main: () => Promise<number | undefined>): void {
  const exit = (code: number) => process.stdout.write("", () => process.exit(code));
  main().then(
    (code) => exit(code ?? 0),
    (err: unknown) => {
      const error = err instanceof Error ? err : new Error(String(err));
      const refused = error.message.includes("ECONNREFUSED") || error.name === "ECONNREFUSED";
      const text = refused
        ? `${error.message}: the local stack is not answering; is \`npm run local\` still up?`
        : error.name === "Error" || error instanceof UsageError
          ? error.message
          : `${error.name}: ${error.message}`;
      process.stderr.write(`${text}\n`);
      exit(error instanceof UsageError ? 2 : 1);
    },
  );
}

/** The stack file: TRADEFLOW_STACK_FILE when set (tests keep their own), else the one `npm run local` writes. */
export function stackFile(): string {
  return process.env.TRADEFLOW_STACK_FILE ?? STACK_FILE;
}

export function runningStack(): StackInfo | undefined {
  return findStack(stackFile());
}

export function requireRunningStack(): StackInfo {
  return requireStack(stackFile());
}

/** Credentials only have to be well-formed locally; the same defaults as the stack's, so moto sees one account. */
export function localCredentials(): { accessKeyId: string; secretAccessKey: string } {
  process.env.AWS_ACCESS_KEY_ID ??= "testing";
  process.env.AWS_SECRET_ACCESS_KEY ??= "testing";
  return { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY };
}

/** SDK client settings for the gateway, which serves or proxies every service the commands use. */
export function awsConfig(info: Pick<StackInfo, "endpoint" | "region">, endpoint = info.endpoint) {
  return { endpoint, region: info.region, credentials: localCredentials() };
}

/** A JSON argument as the aws CLI takes it: `file://path`, a path, `-` for stdin, or the JSON text itself. */
export function readJsonArgument(value: string, what: string): unknown {
  const inline = /^\s*[[{]/.test(value);
  const path = value.startsWith("file://") ? value.slice("file://".length) : value;
  if (!inline && value !== "-" && !existsSync(path)) throw new UsageError(`${what}: no such file ${path}`);
  const text = inline ? value : readFileSync(value === "-" ? 0 : path, "utf8");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${what} is not JSON: ${(err as Error).message}`);
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function printJson(value: unknown, indent = 2): void {
  process.stdout.write(`${JSON.stringify(value, null, indent)}\n`);
}

/** Rows as aligned columns; the columns named in `right` are right-aligned (numbers). */
export function columns(rows: readonly (readonly string[])[], right: readonly number[] = []): string {
  const widths: number[] = [];
  for (const row of rows) for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  return rows
    .map((row) =>
      row
        .map((cell, i) => (right.includes(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(2)}s`;
}

export function isoTime(date: Date | number | undefined): string {
  return date === undefined ? "" : new Date(date).toISOString().slice(0, 23).replace("T", " ");
}

/** One state's visit in an execution, as the history tells it. */
export interface StateStep {
  readonly state: string;
  readonly type: string;
  /** Nesting: 1 for the states of a Parallel's branches, and so on. */
  readonly depth: number;
  /** Milliseconds from the execution's start. */
  readonly startMs: number;
  durationMs: number;
  /** Task invocations (1 + retries). */
  attempts: number;
  /** The error of each failed attempt that was retried. */
  readonly retries: string[];
  failed?: string;
  caught?: { error: string; next: string };
}

export interface MachineStates {
  readonly type: string;
  readonly states: ReadonlyMap<string, { state: AslState; depth: number }>;
}

export async function machineStates(sfn: SFNClient, stateMachineArn: string): Promise<MachineStates> {
  const { definition, type } = await sfn.send(new DescribeStateMachineCommand({ stateMachineArn }));
  const machine = AslMachineSchema.parse(JSON.parse(definition ?? "{}"));
  return { type: type ?? "STANDARD", states: statesByName(machine) };
}

/** An execution's ARN from its name (executions of an EXPRESS machine live under `:express:`). */
export function executionArn(info: StackInfo, machine: MachineStates, nameOrArn: string): string {
  if (nameOrArn.startsWith("arn:")) return nameOrArn;
  const kind = machine.type === "EXPRESS" ? ":express:" : ":execution:";
  return `${info.stateMachineArn.replace(":stateMachine:", kind)}:${nameOrArn}`;
}

export async function executionHistory(sfn: SFNClient, arn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn: arn, maxResults: 1000, nextToken }));
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events.sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
}

function catches(catcher: { ErrorEquals: string[] }, error: string): boolean {
  const e = catcher.ErrorEquals;
  return (
    e.includes(error) || e.includes("States.ALL") || (e.includes("States.TaskFailed") && error !== "States.Timeout")
  );
}

/**
 * The state path of an execution with durations, attempts, retries and catches. A Task's Scheduled/Started/
 * Succeeded/Failed events carry no state name, so they go to the open Task state whose Resource they name.
 */
export function traceOf(events: readonly HistoryEvent[], machine: MachineStates): StateStep[] {
  const t0 = events[0]?.timestamp?.getTime() ?? 0;
  const steps: StateStep[] = [];
  const open = new Map<string, StateStep>();
  let current: StateStep | undefined;
  let lastError: string | undefined;
  for (const e of events) {
    const at = (e.timestamp?.getTime() ?? t0) - t0;
    const type = e.type ?? "";
    const entered = e.stateEnteredEventDetails?.name;
    const exited = e.stateExitedEventDetails?.name;
    const scheduled =
      e.lambdaFunctionScheduledEventDetails?.resource ??
      (e.taskScheduledEventDetails &&
        `arn:aws:states:::${e.taskScheduledEventDetails.resourceType}:${e.taskScheduledEventDetails.resource}`);
    const failure =
      e.lambdaFunctionFailedEventDetails ??
      e.lambdaFunctionTimedOutEventDetails ??
      e.lambdaFunctionStartFailedEventDetails ??
      e.taskFailedEventDetails ??
      e.taskTimedOutEventDetails;
    if (entered !== undefined) {
      const step: StateStep = {
        state: entered,
        type: type.replace(/StateEntered$/, ""),
        depth: machine.states.get(entered)?.depth ?? 0,
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
      current =
        candidates.find((s) => machine.states.get(s.state)?.state.Resource === scheduled) ?? candidates[0] ?? current;
      if (!current) continue;
      current.attempts += 1;
      if (current.failed) current.retries.push(current.failed);
      current.failed = undefined;
    } else if (failure && current) {
      current.failed = failure.error ?? "States.TaskFailed";
      current.durationMs = at - current.startMs;
      lastError = current.failed;
    } else if (type === "ParallelStateFailed" || type === "MapStateFailed") {
      const step = [...open.values()].reverse().find((s) => s.type === type.replace(/StateFailed$/, ""));
      if (step) {
        step.failed = lastError ?? "States.BranchFailed";
        step.durationMs = at - step.startMs;
      }
    }
  }
  for (const [i, step] of steps.entries()) {
    const error = step.failed;
    const catcher = error && machine.states.get(step.state)?.state.Catch?.find((c) => catches(c, error));
    if (!error || !catcher || !steps.slice(i + 1).some((s) => s.state === catcher.Next)) continue;
    step.caught = { error, next: catcher.Next };
    step.failed = undefined;
  }
  return steps;
}

export function stepNotes(step: StateStep): string {
  const retried = [...new Set(step.retries)].join(", ");
  return [
    step.retries.length ? `retried ${step.retries.length}x: ${retried}` : "",
    step.failed ? `failed ${step.failed}` : "",
    step.caught ? `caught ${step.caught.error} -> ${step.caught.next}` : "",
  ]
    .filter(Boolean)
    .join("; ");
}

/** `ProcessEvent 4.67s [Validate 2.87s, Enrich 2.40s, IsOrder 4ms, Match 1.78s] -> Record 0.66s` */
export function formatPath(steps: readonly StateStep[]): string {
  const parts: { text: string; inner: string[] }[] = [];
  for (const step of steps) {
    const notes = stepNotes(step);
    const text = `${step.state} ${duration(step.durationMs)}${notes ? ` (${notes})` : ""}`;
    const parent = parts.at(-1);
    if (step.depth > 0 && parent) parent.inner.push(text);
    else parts.push({ text, inner: [] });
  }
  return parts.map((p) => (p.inner.length ? `${p.text} [${p.inner.join(", ")}]` : p.text)).join(" -> ");
}
