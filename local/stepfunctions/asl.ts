// The part of Amazon States Language this project reads: the cost model walks it, the ASL tests check it.
import { z } from "zod";

export const AslStateSchema = z
  .object({
    Type: z.string(),
    Resource: z.string().optional(),
    Next: z.string().optional(),
    End: z.boolean().optional(),
    Default: z.string().optional(),
    Choices: z.array(z.object({ Next: z.string() }).loose()).optional(),
    Retry: z.array(z.record(z.string(), z.unknown())).optional(),
    Catch: z
      .array(z.object({ ErrorEquals: z.array(z.string()), ResultPath: z.string().optional(), Next: z.string() }))
      .optional(),
    get Branches() {
      return z.array(AslMachineSchema).optional();
    },
  })
  .loose();

export const AslMachineSchema = z.object({ StartAt: z.string(), States: z.record(z.string(), AslStateSchema) });

export type AslState = z.infer<typeof AslStateSchema>;
export type AslMachine = z.infer<typeof AslMachineSchema>;

/** Every state of a machine by name, with its nesting: 0 at the top level, 1 inside a Parallel's branches... */
export function statesByName(
  machine: AslMachine,
  depth = 0,
  into = new Map<string, { state: AslState; depth: number }>(),
): Map<string, { state: AslState; depth: number }> {
  for (const [name, state] of Object.entries(machine.States)) {
    into.set(name, { state, depth });
    for (const branch of state.Branches ?? []) statesByName(branch, depth + 1, into);
  }
  return into;
}
