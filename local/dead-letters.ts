// The template's dead-letter queues: every queue some RedrivePolicy or DeadLetterConfig points at, and every queue
// the state machine's definition sends to (its failed-executions queue). Read from template.yaml, by logical id.
import type { ProvisionedResources } from "./provision";
import { loadTemplate } from "./template";

function referencedQueue(value: unknown, queues: ReadonlySet<string>): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const getAtt = v["Fn::GetAtt"];
  const target = Array.isArray(getAtt) ? getAtt[0] : typeof getAtt === "string" ? getAtt.split(".")[0] : v.Ref;
  return typeof target === "string" && queues.has(target) ? target : undefined;
}

function collect(value: unknown, queues: ReadonlySet<string>, found: Set<string>, underDeadLetterKey = false): void {
  if (Array.isArray(value)) for (const item of value) collect(item, queues, found, underDeadLetterKey);
  if (typeof value !== "object" || value === null || Array.isArray(value)) return;
  const queue = underDeadLetterKey ? referencedQueue(value, queues) : undefined;
  if (queue) found.add(queue);
  for (const [key, child] of Object.entries(value)) {
    const deadLetter = ["RedrivePolicy", "DeadLetterConfig", "DefinitionSubstitutions"].includes(key);
    collect(child, queues, found, underDeadLetterKey || deadLetter);
  }
}

/** Queue URLs of the dead-letter queues, by logical id. */
export function deadLetterQueues(resources: ProvisionedResources): Record<string, string> {
  const template = loadTemplate();
  const queues = new Set(Object.keys(resources.queues));
  const found = new Set<string>();
  for (const resource of Object.values(template.Resources)) collect(resource.Properties, queues, found);
  return Object.fromEntries([...found].sort().map((id) => [id, resources.queues[id] ?? ""]));
}
