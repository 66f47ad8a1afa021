// What the commands against the local stack (put-events, invoke, inspect) share: arguments and JSON inputs as the
// aws CLI takes them, the stack file, SDK settings for the gateway, executions' histories read back from
// GetExecutionHistory (traced by local/stepfunctions/traces.ts), and plain aligned text.
import { existsSync, readFileSync } from "node:fs";
import { type ParseArgsConfig, parseArgs } from "node:util";
import {
  DescribeStateMachineCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent as SdkHistoryEvent,
  type SFNClient,
} from "@aws-sdk/client-sfn";
import { findStack, requireStack, STACK_FILE, type StackInfo } from "../local/stack-file";
import { AslMachineSchema, statesByName } from "../local/stepfunctions/asl";
import { type HistoryEvent, type MachineStates, type StateTrace, stepNotes } from "../local/stepfunctions/traces";

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

export interface StateMachineInfo {
  readonly type: string;
  readonly states: MachineStates;
}

export async function machineStates(sfn: SFNClient, stateMachineArn: string): Promise<StateMachineInfo> {
  const { definition, type } = await sfn.send(new DescribeStateMachineCommand({ stateMachineArn }));
  const machine = AslMachineSchema.parse(JSON.parse(definition ?? "{}"));
  return { type: type ?? "STANDARD", states: statesByName(machine) };
}

/** An execution's ARN from its name (executions of an EXPRESS machine live under `:express:`). */
export function executionArn(info: StackInfo, machine: StateMachineInfo, nameOrArn: string): string {
  if (nameOrArn.startsWith("arn:")) return nameOrArn;
  const kind = machine.type === "EXPRESS" ? ":express:" : ":execution:";
  return `${info.stateMachineArn.replace(":stateMachine:", kind)}:${nameOrArn}`;
}

/** An execution's history as the gateway returns it, in the shape traceOf reads (epoch-millisecond timestamps). */
export async function executionHistory(sfn: SFNClient, arn: string): Promise<HistoryEvent[]> {
  const events: SdkHistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn: arn, maxResults: 1000, nextToken }));
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events
    .map((e) => ({
      ...e,
      timestamp: e.timestamp?.getTime() ?? 0,
      type: e.type ?? "",
      id: e.id ?? 0,
      previousEventId: e.previousEventId ?? 0,
    }))
    .sort((a, b) => a.id - b.id);
}

/** `ProcessEvent 4.67s [Validate 2.87s, Enrich 2.40s, IsOrder 4ms, Match 1.78s] -> Record 0.66s` */
export function formatPath(steps: readonly StateTrace[]): string {
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
