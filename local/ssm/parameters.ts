// The template's SSM parameters in moto, rewritten to the template's values at each provisioning.
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import type { ProvisionContext } from "../provision";

const ParameterProperties = z.object({ Name: z.string(), Value: z.string(), Type: z.literal("String") });

/** Parameter names by logical id. */
export async function createParameters(context: ProvisionContext): Promise<Record<string, string>> {
  const ssm = new SSMClient({ endpoint: context.motoEndpoint, region: context.region });
  const parameters: Record<string, string> = {};
  for (const [logicalId, resource] of context.resolver.resourcesOfType("AWS::SSM::Parameter")) {
    const p = context.resolver.properties(ParameterProperties, resource.Properties);
    await ssm.send(new PutParameterCommand({ Name: p.Name, Value: p.Value, Type: p.Type, Overwrite: true }));
    parameters[logicalId] = p.Name;
    context.physical[logicalId] = { ref: p.Name, attributes: { Type: p.Type, Value: p.Value } };
  }
  return parameters;
}
