// The template's state machine as the local stack runs it: the ASL file with its DefinitionSubstitutions filled
// in, its Task states invoking the local functions, on aws-local-stepfunctions.
import { readFileSync } from "node:fs";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { z } from "zod";
import { localFunctionPhysical, type ProvisionedResources, stackResolver } from "../provision";
import { type TemplateResolver, templateFile, UnresolvedReferenceError } from "../template";
import { LocalStateMachine, type LocalStateMachineOptions } from "./workflow";

export interface LocalWorkflow {
  readonly logicalId: string;
  /** The ASL with every DefinitionSubstitutions value filled in, parsed. */
  readonly definition: Record<string, unknown>;
  /** Which function each Task state's Resource ARN invokes. */
  readonly functionsByArn: Record<string, string>;
}

const StateMachineProperties = z.object({
  Name: z.string().optional(),
  Type: z.enum(["EXPRESS", "STANDARD"]).default("STANDARD"),
  DefinitionUri: z.string(),
  DefinitionSubstitutions: z.record(z.string(), z.coerce.string()).default({}),
});

/** The state machine's definition as the local stack runs it: its Task Resources are localFunctionPhysical ARNs. */
export function workflowDefinition(stack: ProvisionedResources, resolver = stackResolver(stack)): LocalWorkflow {
  const [logicalId, properties] = stateMachineOf(resolver);
  const text = readFileSync(templateFile(properties.DefinitionUri), "utf8").replace(
    /\$\{([^}]+)\}/g,
    (_, name: string) => {
      const value = properties.DefinitionSubstitutions[name];
      if (value === undefined)
        throw new UnresolvedReferenceError(`the ASL's \${${name}} has no DefinitionSubstitutions entry`);
      return value;
    },
  );
  const functionsByArn = Object.fromEntries(
    resolver
      .resourcesOfType("AWS::Serverless::Function")
      .map(([id]) => [localFunctionPhysical(id, stack).attributes?.Arn ?? "", id]),
  );
  return { logicalId, definition: z.record(z.string(), z.unknown()).parse(JSON.parse(text)), functionsByArn };
}

/** The template's one state machine and its properties, resolved. */
function stateMachineOf(resolver: TemplateResolver): [string, z.output<typeof StateMachineProperties>] {
  const machines = resolver.resourcesOfType("AWS::Serverless::StateMachine");
  const [machine] = machines;
  if (!machine || machines.length > 1) throw new Error("the template must declare exactly one state machine");
  const [logicalId, resource] = machine;
  return [logicalId, resolver.properties(StateMachineProperties, resource.Properties)];
}

export interface StateMachineRuntime {
  /** Invokes a local function by logical id. */
  readonly invoke: (logicalId: string, input: unknown) => Promise<unknown>;
  readonly sqs: SQSClient;
  readonly tuning?: Pick<LocalStateMachineOptions, "retryIntervalMs" | "retainExecutions" | "maxRunning">;
}

export function localStateMachine(
  resources: ProvisionedResources,
  runtime: StateMachineRuntime,
  resolver = stackResolver(resources),
): LocalStateMachine {
  const workflow = workflowDefinition(resources, resolver);
  const [, properties] = stateMachineOf(resolver);
  const name = properties.Name ?? `${resources.stackName}-${workflow.logicalId}`;
  return new LocalStateMachine({
    name,
    arn: `arn:aws:states:${resources.region}:${resources.accountId}:stateMachine:${name}`,
    type: properties.Type,
    definition: workflow.definition,
    region: resources.region,
    target: {
      isFunction: (arn) => arn in workflow.functionsByArn,
      invokeFunction: (arn, input) => runtime.invoke(workflow.functionsByArn[arn] ?? arn, input),
      sqs: runtime.sqs,
    },
    ...runtime.tuning,
  });
}
