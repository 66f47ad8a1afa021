// The Step Functions API subset the gateway serves from the local state machines, in AWS's request and response
// shapes: StartExecution, StartSyncExecution, DescribeExecution, ListExecutions, GetExecutionHistory,
// DescribeStateMachine and ListStateMachines. Anything else is UnknownOperationException.
import { z } from "zod";
import { type Execution, type LocalStateMachine, StepFunctionsError } from "./workflow";

const seconds = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);

function summary(e: Execution) {
  return {
    executionArn: e.executionArn,
    stateMachineArn: e.stateMachineArn,
    name: e.name,
    status: e.status,
    startDate: seconds(e.startDate),
    stopDate: seconds(e.stopDate),
  };
}

function described(e: Execution) {
  return {
    ...summary(e),
    input: e.input,
    inputDetails: { included: true },
    ...(e.output !== undefined && { output: e.output, outputDetails: { included: true } }),
    ...(e.error !== undefined && { error: e.error, cause: e.cause }),
  };
}

function page<T>(items: T[], maxResults: number | undefined, nextToken: string | undefined) {
  const start = nextToken ? Number(Buffer.from(nextToken, "base64url").toString()) : 0;
  if (!Number.isInteger(start) || start < 0) throw new StepFunctionsError("InvalidToken", "Invalid Token");
  const size = maxResults && maxResults > 0 ? Math.min(maxResults, 1000) : 100;
  const end = start + size;
  return {
    items: items.slice(start, end),
    nextToken: end < items.length ? Buffer.from(String(end)).toString("base64url") : undefined,
  };
}

const StatesArn = z.string().min(1).max(256);
const Arn = z.object({ stateMachineArn: StatesArn });
const ExecArn = z.object({ executionArn: StatesArn });
const Start = Arn.extend({ name: z.string().optional(), input: z.string().default("{}") });
const List = Arn.extend({
  statusFilter: z.enum(["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]).optional(),
  maxResults: z.number().int().min(0).max(1000).optional(),
  nextToken: z.string().optional(),
});
const History = ExecArn.extend({
  maxResults: z.number().int().min(0).max(1000).optional(),
  nextToken: z.string().optional(),
  reverseOrder: z.boolean().default(false),
  includeExecutionData: z.boolean().default(true),
});

function checkArn(arn: string, kind: "stateMachine" | "execution"): void {
  const resource = arn.split(":")[5];
  const valid =
    /^arn:aws[a-z-]*:states:[^:]*:[^:]*:/.test(arn) &&
    (kind === "stateMachine" ? resource === kind : resource === "execution" || resource === "express");
  if (!valid) throw new StepFunctionsError("InvalidArn", `Invalid Arn: '${arn}'`);
}

export class StepFunctionsApi {
  constructor(private readonly machines: () => readonly LocalStateMachine[]) {}

  private machine(arn: string): LocalStateMachine {
    checkArn(arn, "stateMachine");
    const machine = this.machines().find((m) => m.arn === arn);
    if (!machine) throw new StepFunctionsError("StateMachineDoesNotExist", `State Machine Does Not Exist: '${arn}'`);
    return machine;
  }

  private execution(arn: string): Execution {
    checkArn(arn, "execution");
    for (const machine of this.machines()) {
      const execution = machine.find(arn);
      if (execution) return execution;
    }
    throw new StepFunctionsError("ExecutionDoesNotExist", `Execution Does Not Exist: '${arn}'`);
  }

  async call(operation: string, body: unknown): Promise<unknown> {
    switch (operation) {
      case "StartExecution": {
        const p = Start.parse(body);
        const e = this.machine(p.stateMachineArn).start(p.input, p.name);
        return { executionArn: e.executionArn, startDate: seconds(e.startDate) };
      }
      case "StartSyncExecution": {
        const p = Start.parse(body);
        const e = await this.machine(p.stateMachineArn).startSync(p.input, p.name);
        const billed = Math.ceil(((e.stopDate ?? Date.now()) - e.startDate) / 100) * 100;
        return { ...described(e), billingDetails: { billedMemoryUsedInMB: 64, billedDurationInMilliseconds: billed } };
      }
      case "DescribeExecution":
        return described(this.execution(ExecArn.parse(body).executionArn));
      case "ListExecutions": {
        const p = List.parse(body);
        const { items, nextToken } = page(
          this.machine(p.stateMachineArn).list(p.statusFilter),
          p.maxResults,
          p.nextToken,
        );
        return { executions: items.map(summary), nextToken };
      }
      case "GetExecutionHistory": {
        const p = History.parse(body);
        const events = [...this.execution(p.executionArn).history];
        if (p.reverseOrder) events.reverse();
        const { items, nextToken } = page(events, p.maxResults, p.nextToken);
        return { events: items.map((e) => ({ ...e, timestamp: seconds(e.timestamp) })), nextToken };
      }
      case "DescribeStateMachine": {
        const m = this.machine(Arn.parse(body).stateMachineArn);
        return {
          stateMachineArn: m.arn,
          name: m.name,
          status: "ACTIVE",
          type: m.options.type,
          definition: JSON.stringify(m.options.definition),
          roleArn: m.arn.replace(/:states:.*/, ":iam::local:role/local"),
          creationDate: seconds(m.createdAt),
        };
      }
      case "ListStateMachines":
        return {
          stateMachines: this.machines().map((m) => ({
            stateMachineArn: m.arn,
            name: m.name,
            type: m.options.type,
            creationDate: seconds(m.createdAt),
          })),
        };
      default:
        throw new StepFunctionsError("UnknownOperationException", `the local stack does not serve ${operation}`);
    }
  }
}
