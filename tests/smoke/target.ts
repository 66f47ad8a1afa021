// Where the smoke suite runs. SMOKE_TARGET=local (the default) starts a local stack of its own; SMOKE_TARGET=aws
// reads a deployed stack's Outputs (SMOKE_STACK_NAME, AWS_REGION, the default credential chain). A target that
// cannot run says why, and how to run it, instead of passing silently.
import { CloudFormationClient, DescribeStacksCommand, type Output } from "@aws-sdk/client-cloudformation";
import { DescribeStateMachineCommand, SFNClient, type SFNClientConfig } from "@aws-sdk/client-sfn";
import { startLocalStack } from "../../local/stack";

export type TargetName = "local" | "aws";
export type WorkflowType = "EXPRESS" | "STANDARD";

export const HOW_TO_RUN_AWS =
  "SMOKE_TARGET=aws SMOKE_STACK_NAME=tradeflow-dev AWS_REGION=<the stack's region> npm run test:smoke";
export const HOW_TO_RUN_LOCAL = "npm run build && npm run test:smoke (SMOKE_TARGET=local is the default)";

/** The stack Outputs (template.yaml) the suite needs; the local target provides the same keys. */
export const REQUIRED_OUTPUTS = ["EventBusName", "StateMachineArn", "ComplianceTableName"] as const;
export type SmokeOutputs = Readonly<Record<(typeof REQUIRED_OUTPUTS)[number], string>>;

/** Settings shared by every SDK client of a target. */
export interface ClientSettings {
  readonly region: string;
  readonly endpoint?: string;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

export interface SmokeTarget {
  readonly name: TargetName;
  readonly outputs: SmokeOutputs;
  readonly region: string;
  /** The account of the state machine (from its ARN): an EventBridge envelope names it. */
  readonly accountId: string;
  readonly clients: ClientSettings;
  /**
   * Step Functions client settings. Locally, `disableHostPrefix`: StartSyncExecution's endpoint has a `sync-`
   * host prefix, which a loopback endpoint does not resolve.
   */
  readonly sfn: SFNClientConfig;
  /** A shared, long-lived stack (AWS): leave nothing resting in an order book. */
  readonly shared: boolean;
  /** Polling deadlines: a cold container Lambda on AWS takes seconds, the local functions do not. */
  readonly deadlineMs: number;
  stop(): Promise<void>;
}

/** What a target can check, known before its tests are declared (Jest cannot skip a test once it runs). */
export interface Capabilities {
  readonly workflowType: WorkflowType;
  /** ListExecutions and GetExecutionHistory: the local gateway for any type, AWS for STANDARD only. */
  readonly executionHistory: boolean;
  /** StartSyncExecution: EXPRESS only on AWS; the local gateway serves it for any type. */
  readonly syncExecution: boolean;
}

export type TargetPlan =
  | { readonly name: TargetName; readonly run: false; readonly reason: string; readonly howToRun: string }
  | { readonly name: TargetName; readonly run: "error"; readonly error: Error }
  | {
      readonly name: TargetName;
      readonly run: true;
      readonly description: string;
      readonly capabilities: Capabilities;
      open(): Promise<SmokeTarget>;
    };

export type SmokeEnvironment = Readonly<Record<string, string | undefined>>;

export function selectedTarget(env: SmokeEnvironment): TargetName {
  const value = (env.SMOKE_TARGET ?? "local").trim().toLowerCase() || "local";
  if (value === "local" || value === "aws") return value;
  throw new Error(`SMOKE_TARGET must be "local" or "aws", not "${env.SMOKE_TARGET}"`);
}

/** One plan per target: the selected one runs (or says why it cannot), the other says it was not selected. */
export async function planTargets(env: SmokeEnvironment): Promise<TargetPlan[]> {
  const selected = selectedTarget(env);
  return [
    selected === "local"
      ? localPlan()
      : {
          name: "local",
          run: false,
          reason: "SMOKE_TARGET=aws selects the deployed stack",
          howToRun: HOW_TO_RUN_LOCAL,
        },
    selected === "aws"
      ? await awsPlan(env)
      : {
          name: "aws",
          run: false,
          reason: "SMOKE_TARGET is local (the default), so no deployed stack was checked",
          howToRun: HOW_TO_RUN_AWS,
        },
  ];
}

function localPlan(): TargetPlan {
  return {
    name: "local",
    run: true,
    description: "a local stack started by the suite (stage smoke)",
    // The template's default WorkflowType; the gateway serves both APIs whatever the type.
    capabilities: { workflowType: "EXPRESS", executionHistory: true, syncExecution: true },
    open: openLocal,
  };
}

async function openLocal(): Promise<SmokeTarget> {
  const stack = await startLocalStack({ stage: "smoke" });
  try {
    const complianceTable = stack.resources.tables.ComplianceTable;
    if (!complianceTable) throw new Error("the local stack has no ComplianceTable");
    // startLocalStack sets well-formed credentials when there are none; the functions use the same ones, and
    // DynamoDB Local keeps one database per access key.
    const credentials = {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? "testing",
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? "testing",
    };
    const clients: ClientSettings = { region: stack.region, endpoint: stack.endpoint, credentials };
    return {
      name: "local",
      outputs: {
        EventBusName: stack.bus.name,
        StateMachineArn: stack.machine.arn,
        ComplianceTableName: complianceTable,
      },
      region: stack.region,
      accountId: stack.resources.accountId,
      clients,
      sfn: { ...clients, disableHostPrefix: true },
      shared: false,
      deadlineMs: 60_000,
      stop: () => stack.stop(),
    };
  } catch (err) {
    await stack.stop();
    throw err;
  }
}

async function awsPlan(env: SmokeEnvironment): Promise<TargetPlan> {
  const stackName = env.SMOKE_STACK_NAME?.trim();
  if (!stackName)
    return {
      name: "aws",
      run: false,
      reason: "SMOKE_TARGET=aws but SMOKE_STACK_NAME is not set",
      howToRun: HOW_TO_RUN_AWS,
    };
  const cloudFormation = new CloudFormationClient({});
  let region: string;
  try {
    region = await cloudFormation.config.region();
    await cloudFormation.config.credentials();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return {
      name: "aws",
      run: false,
      reason: `SMOKE_TARGET=aws but no region or credentials were found (${why})`,
      howToRun: `${HOW_TO_RUN_AWS}, with credentials from the default chain (environment, profile, SSO, role)`,
    };
  }
  try {
    const outputs = await stackOutputs(cloudFormation, stackName);
    const sfnSettings: SFNClientConfig = { region };
    const described = await new SFNClient(sfnSettings).send(
      new DescribeStateMachineCommand({ stateMachineArn: outputs.StateMachineArn }),
    );
    const workflowType: WorkflowType = described.type === "STANDARD" ? "STANDARD" : "EXPRESS";
    const target: SmokeTarget = {
      name: "aws",
      outputs,
      region,
      accountId: accountOf(outputs.StateMachineArn),
      clients: { region },
      sfn: sfnSettings,
      shared: true,
      deadlineMs: 180_000,
      stop: async () => {},
    };
    return {
      name: "aws",
      run: true,
      description: `stack ${stackName} in ${region} (${workflowType} workflow)`,
      capabilities: {
        workflowType,
        executionHistory: workflowType === "STANDARD",
        syncExecution: workflowType === "EXPRESS",
      },
      open: async () => target,
    };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { name: "aws", run: "error", error: new Error(`stack ${stackName} in ${region}: ${why}`) };
  }
}

async function stackOutputs(client: CloudFormationClient, stackName: string): Promise<SmokeOutputs> {
  const { Stacks } = await client.send(new DescribeStacksCommand({ StackName: stackName }));
  const stack = Stacks?.[0];
  if (!stack) throw new Error("DescribeStacks returned no stack");
  const byKey = new Map((stack.Outputs ?? []).map((o: Output) => [o.OutputKey, o.OutputValue]));
  const missing = REQUIRED_OUTPUTS.filter((key) => !byKey.get(key));
  if (missing.length > 0)
    throw new Error(`the stack (${stack.StackStatus}) has no output ${missing.join(", ")}; is it a tradeflow stack?`);
  const value = (key: (typeof REQUIRED_OUTPUTS)[number]) => byKey.get(key) ?? "";
  return {
    EventBusName: value("EventBusName"),
    StateMachineArn: value("StateMachineArn"),
    ComplianceTableName: value("ComplianceTableName"),
  };
}

function accountOf(arn: string): string {
  const account = arn.split(":")[4];
  if (!account) throw new Error(`not an ARN: ${arn}`);
  return account;
}
