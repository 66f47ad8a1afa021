// The state machine as the local stack runs it: aws-local-stepfunctions executes the template's ASL; Task states
// call the local functions (Lambda ARNs) or the local services (service integrations). Each execution keeps an
// AWS-shaped history (what GetExecutionHistory returns), and its trace is read from that history (traces.ts).
import { randomUUID } from "node:crypto";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { ExecutionAbortedError, ExecutionError, ExecutionTimeoutError, StateMachine } from "aws-local-stepfunctions";
import { z } from "zod";
import { EXECUTION_INPUT_MAX_BYTES, executionNameProblem } from "../limits";
import { AslMachineSchema, type AslState, statesByName } from "./asl";
import { type HistoryEvent, type MachineStates, type StateTrace, traceOf } from "./traces";

export type ExecutionStatus = "RUNNING" | "SUCCEEDED" | "FAILED" | "ABORTED" | "TIMED_OUT";

export interface Execution {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  status: ExecutionStatus;
  readonly startDate: number;
  stopDate?: number;
  readonly input: string;
  output?: string;
  error?: string;
  cause?: string;
  readonly history: HistoryEvent[];
  /** The state path, from the history (traceOf). */
  readonly trace: StateTrace[];
  /** Settles when the execution ends, whatever its status. */
  readonly done: Promise<void>;
}

/** A Task state's work: its effective input in, its result out; failures are errors with the ASL's error names. */
type TaskHandler = (input: unknown, execution: ExecutionRecorder, state: string) => Promise<unknown>;

export interface TaskTarget {
  /** Invoke a function by ARN; rejects with errors named as Lambda's errorType. */
  readonly invokeFunction: (arn: string, input: unknown) => Promise<unknown>;
  readonly isFunction: (arn: string) => boolean;
  readonly sqs: SQSClient;
}

export class StepFunctionsError extends Error {
  constructor(
    override readonly name: string,
    message: string,
  ) {
    super(message);
  }
}

const SendMessageParameters = z.object({
  QueueUrl: z.string(),
  MessageBody: z.unknown(),
  MessageGroupId: z.string().optional(),
  MessageDeduplicationId: z.string().optional(),
  DelaySeconds: z.number().int().optional(),
});

function integrationError(service: string, err: unknown): StepFunctionsError {
  const name = err instanceof Error ? err.name : "ServiceException";
  return new StepFunctionsError(`${service}.${name}`, err instanceof Error ? err.message : String(err));
}

/** Service integrations the local runtime serves, by Task Resource. */
const INTEGRATIONS: Record<string, (target: TaskTarget) => TaskHandler> = {
  "arn:aws:states:::sqs:sendMessage": (target) => async (input) => {
    const p = SendMessageParameters.parse(input);
    const body = typeof p.MessageBody === "string" ? p.MessageBody : JSON.stringify(p.MessageBody);
    try {
      const out = await target.sqs.send(new SendMessageCommand({ ...p, MessageBody: body }));
      return { MessageId: out.MessageId, MD5OfMessageBody: out.MD5OfMessageBody };
    } catch (err) {
      throw integrationError("SQS", err);
    }
  },
};

// Built once: a zod schema is compiled on first use, and every history event goes through these.
const EventState = z
  .object({ name: z.string(), type: z.string(), input: z.unknown(), output: z.unknown().optional() })
  .optional();

/** Collects one execution's history as aws-local-stepfunctions reports it. */
class ExecutionRecorder {
  /** Task-level events (LambdaFunction*, Task*) wait for their state's exit or failure to keep AWS's order. */
  private readonly pendingTask = new Map<string, { timestamp: number; type: string; details: object }[]>();
  /** The states whose failure a Catch took (AWS has no ParallelStateSucceeded for those). */
  private readonly caught = new Set<string>();

  constructor(readonly execution: Execution) {}

  private push(timestamp: number, type: string, details: object): void {
    const id = this.execution.history.length + 1;
    this.execution.history.push({ timestamp, type, id, previousEventId: id - 1, ...details });
  }

  taskEvent(state: string, type: string, details: object): void {
    const pending = this.pendingTask.get(state) ?? [];
    pending.push({ timestamp: Date.now(), type, details });
    this.pendingTask.set(state, pending);
  }

  private flushTask(state: string): void {
    const pending = this.pendingTask.get(state) ?? [];
    for (const { timestamp, type, details } of pending) this.push(timestamp, type, details);
    this.pendingTask.delete(state);
  }

  record(event: { type: string; timestamp: number } & Record<string, unknown>): void {
    const ms = event.timestamp;
    const state = EventState.parse(event.state);
    switch (event.type) {
      case "ExecutionStarted":
        this.push(ms, "ExecutionStarted", {
          executionStartedEventDetails: { input: this.execution.input, inputDetails: { truncated: false } },
        });
        return;
      case "StateEntered": {
        if (!state) return;
        this.push(ms, `${state.type}StateEntered`, {
          stateEnteredEventDetails: { name: state.name, input: JSON.stringify(state.input) },
        });
        if (state.type === "Parallel") this.push(ms, "ParallelStateStarted", {});
        this.caught.delete(state.name);
        return;
      }
      case "StateExited": {
        if (!state) return;
        this.flushTask(state.name);
        if (state.type === "Parallel" && !this.caught.has(state.name)) this.push(ms, "ParallelStateSucceeded", {});
        this.push(ms, `${state.type}StateExited`, {
          stateExitedEventDetails: { name: state.name, output: JSON.stringify(state.output ?? null) },
        });
        return;
      }
      case "StateFailed": {
        if (!state) return;
        this.flushTask(state.name);
        if (state.type === "Parallel")
          this.push(ms, "ParallelStateFailed", { error: String(event.Error), cause: String(event.Cause ?? "") });
        return;
      }
      case "StateCaught":
        if (state) this.caught.add(state.name);
        return;
      case "ExecutionSucceeded":
        this.push(ms, "ExecutionSucceeded", {
          executionSucceededEventDetails: { output: JSON.stringify(event.output ?? null) },
        });
        return;
      case "ExecutionFailed":
        this.push(ms, "ExecutionFailed", {
          executionFailedEventDetails: { error: String(event.Error), cause: String(event.Cause ?? "") },
        });
        return;
      case "ExecutionAborted":
        this.push(ms, "ExecutionAborted", {});
        return;
      case "ExecutionTimeout":
        this.push(ms, "ExecutionTimedOut", {});
        return;
    }
  }
}

function taskStates(states: Record<string, AslState>): [string, AslState][] {
  return Object.entries(states).flatMap(([name, state]) => [
    ...(state.Type === "Task" ? [[name, state] as [string, AslState]] : []),
    ...(state.Branches ?? []).flatMap((branch) => taskStates(branch.States)),
  ]);
}

function lambdaHandler(target: TaskTarget, arn: string, timeoutSeconds: number): TaskHandler {
  return async (input, recorder, state) => {
    const payload = JSON.stringify(input);
    recorder.taskEvent(state, "LambdaFunctionScheduled", {
      lambdaFunctionScheduledEventDetails: { resource: arn, input: payload, timeoutInSeconds: timeoutSeconds },
    });
    recorder.taskEvent(state, "LambdaFunctionStarted", {});
    try {
      const output = await target.invokeFunction(arn, input);
      recorder.taskEvent(state, "LambdaFunctionSucceeded", {
        lambdaFunctionSucceededEventDetails: { output: JSON.stringify(output) },
      });
      return output;
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      recorder.taskEvent(state, "LambdaFunctionFailed", {
        lambdaFunctionFailedEventDetails: { error: error.name, cause: error.message },
      });
      throw error;
    }
  };
}

function integrationHandler(resource: string, handler: TaskHandler, region: string): TaskHandler {
  const [resourceType = "", operation = ""] = resource.replace("arn:aws:states:::", "").split(":");
  const base = { resourceType, resource: operation };
  return async (input, recorder, state) => {
    recorder.taskEvent(state, "TaskScheduled", {
      taskScheduledEventDetails: { ...base, region, parameters: JSON.stringify(input) },
    });
    recorder.taskEvent(state, "TaskStarted", { taskStartedEventDetails: base });
    try {
      const output = await handler(input, recorder, state);
      recorder.taskEvent(state, "TaskSucceeded", {
        taskSucceededEventDetails: { ...base, output: JSON.stringify(output) },
      });
      return output;
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      recorder.taskEvent(state, "TaskFailed", {
        taskFailedEventDetails: { ...base, error: error.name, cause: error.message },
      });
      throw error;
    }
  };
}

export interface LocalStateMachineOptions {
  readonly name: string;
  readonly arn: string;
  readonly type: "EXPRESS" | "STANDARD";
  readonly definition: Record<string, unknown>;
  readonly region: string;
  readonly target: TaskTarget;
  /** Finished executions kept for Describe/List/GetExecutionHistory; the oldest go first. */
  readonly retainExecutions?: number;
  /** The most the kept executions may take, in characters of their JSON (histories mostly); the oldest go first. */
  readonly retainHistoryBytes?: number;
  /** Open executions above which StartExecution fails with ExecutionLimitExceeded (EventBridge then retries). */
  readonly maxRunning?: number;
  /** Retry waits in milliseconds instead of IntervalSeconds/BackoffRate (tests), per Task state name. */
  readonly retryIntervalMs?: number;
}

type ExecutionListener = (execution: Execution) => void;

export class LocalStateMachine {
  readonly createdAt = Date.now();
  private readonly machine: StateMachine;
  private readonly handlers: [string, TaskHandler][];
  private readonly states: MachineStates;
  private readonly executions = new Map<string, Execution>();
  private readonly byName = new Map<string, Execution>();
  private readonly listeners = new Set<ExecutionListener>();
  /** The JSON size of each finished execution still kept, and their sum. */
  private readonly retainedBytes = new Map<string, number>();
  private retainedTotal = 0;
  private running = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(readonly options: LocalStateMachineOptions) {
    const asl = AslMachineSchema.parse(options.definition);
    this.states = statesByName(asl);
    this.machine = new StateMachine(options.definition as unknown as ConstructorParameters<typeof StateMachine>[0], {
      validationOptions: { checkArn: false },
    });
    this.handlers = taskStates(asl.States).map(([name, state]) => {
      const resource = state.Resource ?? "";
      const timeout = z.object({ TimeoutSeconds: z.number().optional() }).parse(state).TimeoutSeconds ?? 60;
      if (options.target.isFunction(resource)) return [name, lambdaHandler(options.target, resource, timeout)];
      const integration = INTEGRATIONS[resource];
      if (!integration) throw new Error(`Task ${name}: the local runtime does not serve ${resource}`);
      return [name, integrationHandler(resource, integration(options.target), options.region)];
    });
  }

  get name(): string {
    return this.options.name;
  }

  get arn(): string {
    return this.options.arn;
  }

  /** Called with every execution once it has ended. */
  onExecutionEnd(listener: ExecutionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** StartExecution: a name already used with the same input returns that execution (STANDARD's idempotency). */
  start(input: string, name?: string): Execution {
    const nameProblem = name === undefined ? undefined : executionNameProblem(name);
    if (nameProblem) throw new StepFunctionsError("InvalidName", `Invalid Name: '${name}' (${nameProblem})`);
    const inputBytes = Buffer.byteLength(input);
    if (inputBytes > EXECUTION_INPUT_MAX_BYTES)
      throw new StepFunctionsError(
        "InvalidExecutionInput",
        `Invalid State Machine Execution Input: the input is ${inputBytes} bytes; the limit is ${EXECUTION_INPUT_MAX_BYTES}`,
      );
    if (name !== undefined) {
      const existing = this.byName.get(name);
      if (existing && existing.input === input) return existing;
      if (existing)
        throw new StepFunctionsError("ExecutionAlreadyExists", `Execution Already Exists: '${existing.executionArn}'`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(input);
    } catch {
      throw new StepFunctionsError("InvalidExecutionInput", "Invalid State Machine Execution Input: 'not valid JSON'");
    }
    if (this.options.maxRunning !== undefined && this.running >= this.options.maxRunning)
      throw new StepFunctionsError("ExecutionLimitExceeded", `more than ${this.options.maxRunning} open executions`);
    const executionName = name ?? randomUUID();
    const kind = this.options.type === "EXPRESS" ? "express" : "execution";
    const arn = `${this.arn.replace(":stateMachine:", `:${kind}:`)}:${executionName}`;
    let settle = () => {};
    const states = this.states;
    // Built from the history when read, and again only once the history has grown (a finished one never does).
    let built: { events: number; trace: StateTrace[] } | undefined;
    const execution: Execution = {
      executionArn: arn,
      stateMachineArn: this.arn,
      name: executionName,
      status: "RUNNING",
      startDate: Date.now(),
      input,
      history: [],
      get trace() {
        if (built?.events !== execution.history.length) {
          built = { events: execution.history.length, trace: traceOf(execution.history, states) };
        }
        return built.trace;
      },
      done: new Promise<void>((resolve) => {
        settle = resolve;
      }),
    };
    this.executions.set(arn, execution);
    this.byName.set(executionName, execution);
    this.running += 1;
    void this.run(execution, parsed).finally(() => {
      this.running -= 1;
      this.retain(execution);
      settle();
      for (const listener of this.listeners) listener(execution);
      if (this.running === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    });
    return execution;
  }

  /** StartSyncExecution: the execution once it has ended. */
  async startSync(input: string, name?: string): Promise<Execution> {
    const execution = this.start(input, name);
    await execution.done;
    return execution;
  }

  find(executionArn: string): Execution | undefined {
    return this.executions.get(executionArn);
  }

  describe(executionArn: string): Execution {
    const execution = this.executions.get(executionArn);
    if (!execution)
      throw new StepFunctionsError("ExecutionDoesNotExist", `Execution Does Not Exist: '${executionArn}'`);
    return execution;
  }

  /** Newest first, as ListExecutions returns them. */
  list(status?: ExecutionStatus): Execution[] {
    return [...this.executions.values()].filter((e) => !status || e.status === status).reverse();
  }

  get runningCount(): number {
    return this.running;
  }

  /** Resolves once no execution is running. */
  idle(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Keeps a finished execution; drops the oldest finished ones past the count or the byte budget. */
  private retain(finished: Execution): void {
    const bytes = JSON.stringify(finished).length;
    this.retainedBytes.set(finished.executionArn, bytes);
    this.retainedTotal += bytes;
    const keep = this.options.retainExecutions ?? 10_000;
    const budget = this.options.retainHistoryBytes ?? 256 * 1024 * 1024;
    for (const [arn, execution] of this.executions) {
      if (this.executions.size <= keep && this.retainedTotal <= budget) break;
      if (execution.status === "RUNNING") continue;
      this.executions.delete(arn);
      this.retainedTotal -= this.retainedBytes.get(arn) ?? 0;
      this.retainedBytes.delete(arn);
      if (this.byName.get(execution.name) === execution) this.byName.delete(execution.name);
    }
  }

  private async run(execution: Execution, input: unknown): Promise<void> {
    const recorder = new ExecutionRecorder(execution);
    const taskResourceLocalHandlers = Object.fromEntries(
      this.handlers.map(([state, handler]) => [
        state,
        (stateInput: unknown) => handler(stateInput, recorder, state) as Promise<never>,
      ]),
    );
    const retryIntervalOverrides =
      this.options.retryIntervalMs === undefined
        ? undefined
        : Object.fromEntries(this.handlers.map(([state]) => [state, this.options.retryIntervalMs ?? 0]));
    const run = this.machine.run(input as never, {
      overrides: { taskResourceLocalHandlers, ...(retryIntervalOverrides && { retryIntervalOverrides }) },
      context: {
        Execution: {
          Id: execution.executionArn,
          Name: execution.name,
          StartTime: new Date(execution.startDate).toISOString(),
        },
        StateMachine: { Id: this.arn, Name: this.name },
      },
    });
    const events = (async () => {
      for await (const event of run.eventLogs) recorder.record(event as unknown as { type: string; timestamp: number });
    })();
    try {
      const output = await run.result;
      execution.output = JSON.stringify(output);
      execution.status = "SUCCEEDED";
    } catch (err) {
      const cause = err instanceof ExecutionError && err.cause instanceof Error ? err.cause : err;
      execution.status =
        err instanceof ExecutionAbortedError
          ? "ABORTED"
          : err instanceof ExecutionTimeoutError
            ? "TIMED_OUT"
            : "FAILED";
      execution.error = cause instanceof Error ? cause.name : "States.Runtime";
      execution.cause = cause instanceof Error ? cause.message : String(cause);
    }
    execution.stopDate = Date.now();
    await events;
  }
}
