// The template's dead-letter queues, read from template.yaml: what `inspect dlq` and the demo's summary show.
import type { CfnTemplate } from "../template";

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The logical id a `!GetAtt Queue.Arn` or `!Ref Queue` names. */
function referenced(value: unknown): string | undefined {
  if (!isRecord(value)) return undefined;
  const getAtt = value["Fn::GetAtt"];
  if (Array.isArray(getAtt)) return typeof getAtt[0] === "string" ? getAtt[0] : undefined;
  if (typeof getAtt === "string") return getAtt.split(".")[0];
  return typeof value.Ref === "string" ? value.Ref : undefined;
}

/**
 * The template's dead-letter queues, each with what feeds it: redrive targets (deadLetterTargetArn), rule and
 * function dead-letter configs, and the queues a state machine sends its failures to (its DefinitionSubstitutions).
 */
export function deadLetterQueues(template: CfnTemplate): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const add = (queue: string | undefined, feeder: string) => {
    if (!queue || template.Resources[queue]?.Type !== "AWS::SQS::Queue") return;
    found.set(queue, [...(found.get(queue) ?? []), feeder]);
  };
  const walk = (value: unknown, owner: string): void => {
    if (Array.isArray(value)) for (const v of value) walk(v, owner);
    if (!isRecord(value)) return;
    for (const [key, v] of Object.entries(value)) {
      if (key === "deadLetterTargetArn") add(referenced(v), `${owner} redrive`);
      else if (key === "DeadLetterConfig" && isRecord(v)) add(referenced(v.Arn), `${owner} dead letters`);
      else if (key === "DeadLetterQueue" && isRecord(v)) add(referenced(v.TargetArn), `${owner} dead letters`);
      walk(v, owner);
    }
  };
  for (const [id, resource] of Object.entries(template.Resources)) {
    // A SAM event (a rule of the state machine, say) names what feeds the queue better than its resource alone.
    const events = isRecord(resource.Properties.Events) ? resource.Properties.Events : {};
    for (const [event, definition] of Object.entries(events)) walk(definition, `${id}.${event}`);
    walk({ ...resource.Properties, Events: undefined }, id);
    if (resource.Type !== "AWS::Serverless::StateMachine") continue;
    const substitutions = isRecord(resource.Properties.DefinitionSubstitutions)
      ? resource.Properties.DefinitionSubstitutions
      : {};
    for (const [name, value] of Object.entries(substitutions)) add(referenced(value), `${id} failures (${name})`);
  }
  return found;
}
